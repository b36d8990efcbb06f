"""Question sets and evaluation runners (`linkage eval …`) shipped with the product."""
