"""Chinese texts for the parts of the command line that typer and its bundled click write.

Typer's rich help reads its panel titles and labels from module constants (set here), but the
usage line, the help option and every parsing error are English literals in click's code. The
command and group classes below supply those in Chinese: their own usage line, the help option's
text, flags shown without a ``<bool>`` type, and each parsing error re-raised with a Chinese
message (typer then prints it in its usual panel, titled 错误).
"""

from __future__ import annotations

import re
from typing import Any

from typer import rich_utils
from typer._click import exceptions as click_errors
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

rich_utils.ARGUMENTS_PANEL_TITLE = "参数"
rich_utils.OPTIONS_PANEL_TITLE = "选项"
rich_utils.COMMANDS_PANEL_TITLE = "命令"
rich_utils.ERRORS_PANEL_TITLE = "错误"
rich_utils.DEFAULT_STRING = "[默认：{}]"
rich_utils.ENVVAR_STRING = "[环境变量：{}]"
rich_utils.REQUIRED_LONG_STRING = "[必填]"
rich_utils.DEPRECATED_STRING = "（已弃用）"
rich_utils.ABORTED_TEXT = "已中止。"
rich_utils.RICH_HELP = "运行 [blue]{command_path} {help_option}[/] 查看帮助。"

HELP_TEXT = "显示帮助并退出。"


class ChineseUsageError(click_errors.UsageError):
    """A parsing error whose message has been put into Chinese (keeps the original exit code)."""

    def __init__(self, message: str, ctx: Any, exit_code: int):
        super().__init__(message, ctx)
        self.exit_code = exit_code


def _pydantic_detail(cause: BaseException | None) -> str | None:
    """Typer checks option values with pydantic; say what was wrong in Chinese."""
    errors = getattr(cause, "errors", None)
    if not callable(errors) or not errors():
        return None
    error = errors()[0]
    kind, limits = error.get("type", ""), error.get("ctx") or {}
    if kind.startswith("int_"):
        return "应为整数"
    if kind.startswith("float_") or kind.startswith("decimal_"):
        return "应为数字"
    if kind.startswith("bool_"):
        return "应为 true 或 false"
    bounds = {"greater_than_equal": ("不能小于", "ge"), "greater_than": ("应大于", "gt"),
              "less_than_equal": ("不能大于", "le"), "less_than": ("应小于", "lt")}
    if kind in bounds:
        words, key = bounds[kind]
        return f"{words} {limits.get(key)}"
    if kind in ("literal_error", "enum"):
        return f"只能是 {limits.get('expected', '')}".replace(" or ", "、")
    return "格式不正确"


def _param_hint(exc: click_errors.BadParameter) -> str:
    hint = exc.param_hint
    if hint is None and exc.param is not None:
        hint = exc.param.get_error_hint()
    if isinstance(hint, (list, tuple)):
        hint = " / ".join(hint)
    return str(hint or "")


def chinese_message(exc: click_errors.ClickException) -> str:
    """The Chinese wording of one of click's parsing errors."""
    if isinstance(exc, click_errors.MissingParameter):
        kind = "参数" if isinstance(exc.param, TyperArgument) else "选项"
        return f"缺少{kind} {_param_hint(exc)}。"
    if isinstance(exc, click_errors.BadParameter):
        detail = _pydantic_detail(exc.__cause__) or "格式不正确"
        return f"{_param_hint(exc)} 的值无效：{detail}。"
    if isinstance(exc, click_errors.NoSuchOption):
        text = f"没有这个选项：{exc.option_name}。"
        if exc.possibilities:
            text += f"你是不是要用 {'、'.join(sorted(exc.possibilities))}？"
        return text
    if isinstance(exc, click_errors.BadOptionUsage):
        if "does not take a value" in exc.message:
            return f"选项 {exc.option_name} 是开关，不接受值。"
        return f"选项 {exc.option_name} 需要一个值。"
    message = exc.format_message()
    if match := re.match(r"No such command '(.+?)'\.(?: Did you mean (.+)\?)?", message):
        text = f"没有这个命令：{match.group(1)}。"
        if match.group(2):
            text += f"你是不是要用 {match.group(2).replace(', ', '、')}？"
        return text
    if match := re.match(r"Got unexpected extra argument\(s\) \((.*)\)", message):
        return f"多余的参数：{match.group(1)}（含空格的内容请加引号）。"
    if message.startswith("Missing command"):
        return "缺少命令。"
    return message


_TYPE_WORDS = {"str": "文本", "int": "整数", "float": "数字", "path": "路径"}


def _chinese_type(label: str | None) -> str | None:
    if not label:
        return label
    label = re.sub(r"list\[(.+?)\]", r"\1...", label).replace(" range", "")
    return re.sub(r"\b(str|int|float|path)\b", lambda m: _TYPE_WORDS[m.group(1).lower()], label, flags=re.IGNORECASE)


def _localize_type(param):
    """A flag reads as ``--json``, not ``--json <bool>``; other types are named in Chinese."""
    if getattr(param, "_type_localized", False):
        return param
    if isinstance(param, TyperOption) and param.is_flag:
        param.display_type_rich = lambda ctx: None
    else:
        english = param.display_type_rich

        param.display_type_rich = lambda ctx: _chinese_type(english(ctx))
    param._type_localized = True
    return param


class _Chinese:
    """Shared by commands and groups: usage line, help option and errors in Chinese."""

    def format_usage(self, ctx, formatter) -> None:
        formatter.write_usage(ctx.command_path, " ".join(self.collect_usage_pieces(ctx)), prefix="用法：")

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = HELP_TEXT
            _localize_type(option)
        return option

    def get_params(self, ctx):
        return [_localize_type(p) for p in super().get_params(ctx)]

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except click_errors.NoArgsIsHelpError:
            raise
        except click_errors.ClickException as exc:
            raise _translated(exc) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click_errors.NoArgsIsHelpError:
            raise
        except click_errors.ClickException as exc:
            raise _translated(exc) from None


def _translated(exc: click_errors.ClickException) -> click_errors.ClickException:
    if isinstance(exc, ChineseUsageError):
        return exc
    return ChineseUsageError(chinese_message(exc), getattr(exc, "ctx", None), exc.exit_code)


def _usage_piece(param) -> list[str]:
    if not isinstance(param, TyperArgument):
        return []
    name = param.display_name_raw + ("..." if param.nargs != 1 else "")
    return [name if param.required else f"[{name}]"]


class ChineseCommand(_Chinese, TyperCommand):
    def __init__(self, *args, **kwargs):
        kwargs["options_metavar"] = "[选项]"
        super().__init__(*args, **kwargs)

    def collect_usage_pieces(self, ctx) -> list[str]:
        return [self.options_metavar] + [piece for p in self.get_params(ctx) for piece in _usage_piece(p)]


class ChineseGroup(_Chinese, TyperGroup):
    def __init__(self, *args, **kwargs):
        kwargs["options_metavar"] = "[选项]"
        kwargs["subcommand_metavar"] = "命令 [参数]..."
        super().__init__(*args, **kwargs)
