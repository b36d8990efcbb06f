// 联动助手 web chat: vanilla JS, no external resources, so the page works offline.
"use strict";

const STORE_KEY = "linkage.conversations";
const KEY_KEY = "linkage.apiKey";
const TOOL_NAMES = {
  search_knowledge: "检索知识库",
  list_projects: "查看项目列表",
  get_project: "读取项目记录",
  check_readiness: "检查阶段就绪情况",
  draft_proposal: "起草立项材料",
  explain_stage: "查阅工作流程",
};
// Icons are inline SVG (no emoji: without an emoji font they render as empty boxes).
const ICONS = {
  met: '<path d="M3 8.5l3.2 3.2L13 4.8" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/>',
  partial: '<circle cx="8" cy="8" r="5.8" fill="none" stroke="currentColor" stroke-width="1.8"/><path d="M8 2.2a5.8 5.8 0 0 1 0 11.6z" fill="currentColor"/>',
  missing: '<path d="M4 4l8 8M12 4l-8 8" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round"/>',
  warning: '<path d="M8 1.8L15 14H1z" fill="none" stroke="currentColor" stroke-width="1.5" stroke-linejoin="round"/><path d="M8 6.2v3.8" stroke="currentColor" stroke-width="1.6" stroke-linecap="round"/><circle cx="8" cy="12" r="0.9" fill="currentColor"/>',
  up: '<path d="M2 7h2.6v7H2zM5.6 14h6.1a1.4 1.4 0 0 0 1.37-1.1l1.05-4.5A1.4 1.4 0 0 0 12.75 6.7H9.6l.45-2.5a1.3 1.3 0 0 0-2.3-1.05L5.6 6.6z" fill="none" stroke="currentColor" stroke-width="1.3" stroke-linejoin="round"/>',
  menu: '<path d="M2 4h12M2 8h12M2 12h12" stroke="currentColor" stroke-width="1.6" stroke-linecap="round"/>',
  close: '<path d="M4 4l8 8M12 4l-8 8" stroke="currentColor" stroke-width="1.6" stroke-linecap="round"/>',
  plus: '<path d="M8 3v10M3 8h10" stroke="currentColor" stroke-width="1.6" stroke-linecap="round"/>',
};
ICONS.down = `<g transform="rotate(180 8 8)">${ICONS.up}</g>`;

function icon(name) {
  const span = document.createElement("span");
  span.className = `icon ${name}`;
  span.setAttribute("aria-hidden", "true");
  span.innerHTML = `<svg viewBox="0 0 16 16">${ICONS[name]}</svg>`;
  return span;
}

const $ = (id) => document.getElementById(id);
let conversations = loadConversations();
let current = null; // the conversation shown: {id, serverId, title, messages, updated}
let busy = false;

// ----- storage -----
function loadConversations() {
  try {
    return JSON.parse(localStorage.getItem(STORE_KEY)) || [];
  } catch {
    return [];
  }
}

function saveConversations() {
  conversations.sort((a, b) => b.updated - a.updated);
  localStorage.setItem(STORE_KEY, JSON.stringify(conversations.slice(0, 50)));
  renderHistory();
}

// ----- HTTP -----
function headers(json = true) {
  const h = {};
  if (json) h["Content-Type"] = "application/json";
  const key = localStorage.getItem(KEY_KEY);
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

async function problemText(response) {
  try {
    const body = await response.json();
    return body.detail || body.title || `请求失败（${response.status}）`;
  } catch {
    return `请求失败（${response.status}）`;
  }
}

async function getJSON(url) {
  const response = await fetch(url, { headers: headers(false) });
  if (!response.ok) throw new Error(await problemText(response));
  return response.json();
}

// ----- rendering -----
function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function citationLabel(c) {
  // The server's label says when a source is our summary ("GB/T 20003.1-2014（摘要） 许可声明").
  return c.label || c.title;
}

function answerHtml(text, citations) {
  const known = new Set(citations.map((c) => c.n));
  return escapeHtml(text)
    .replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>")
    .replace(/\[(\d+)\]/g, (m, n) =>
      known.has(Number(n)) ? `<sup><a href="#" class="cite-ref" data-n="${n}" data-testid="cite-ref">[${n}]</a></sup>` : m);
}

function openCitation(c) {
  $("cite-title").textContent = `[${c.n}] ${citationLabel(c)}`;
  $("cite-meta").textContent = [c.title, c.source === "record" ? "项目记录" : ""].filter(Boolean).join(" · ");
  $("cite-text").textContent = c.quote;
  $("citation-dialog").showModal();
  if (!c.chunk_id) return;
  // Then the whole clause, with the quoted sentence marked.
  getJSON(`/api/clauses/${encodeURIComponent(c.chunk_id)}`)
    .then((clause) => {
      const at = clause.text.indexOf(c.quote);
      $("cite-text").innerHTML = at < 0 ? escapeHtml(clause.text)
        : escapeHtml(clause.text.slice(0, at)) + "<mark>" + escapeHtml(c.quote) + "</mark>" + escapeHtml(clause.text.slice(at + c.quote.length));
    })
    .catch(() => {}); // the quote stays; the clause may have been re-indexed since
}

function addBubble(role) {
  $("welcome")?.remove();
  const div = document.createElement("div");
  div.className = `message ${role}`;
  $("messages").appendChild(div);
  return div;
}

function renderUser(text) {
  addBubble("user").textContent = text;
}

function renderAnswer(bubble, message) {
  const { answer } = message;
  bubble.innerHTML = "";
  bubble.setAttribute("data-testid", "answer");
  const body = document.createElement("div");
  body.className = "answer-text";
  body.innerHTML = answerHtml(answer.answer, answer.citations);
  bubble.appendChild(body);
  const byNumber = new Map(answer.citations.map((c) => [c.n, c]));
  body.addEventListener("click", (event) => {
    const ref = event.target.closest(".cite-ref");
    if (!ref) return;
    event.preventDefault();
    openCitation(byNumber.get(Number(ref.dataset.n)));
  });

  if (answer.citations.length) {
    const list = document.createElement("ol");
    list.className = "footnotes";
    list.setAttribute("data-testid", "footnotes");
    for (const c of answer.citations) {
      const item = document.createElement("li");
      item.value = c.n;
      const link = document.createElement("a");
      link.href = "#";
      link.className = "footnote";
      link.setAttribute("data-testid", "footnote");
      link.textContent = citationLabel(c);
      link.addEventListener("click", (event) => {
        event.preventDefault();
        openCitation(c);
      });
      item.appendChild(link);
      list.appendChild(item);
    }
    bubble.appendChild(list);
  } else {
    const warn = document.createElement("p");
    warn.className = "warning";
    warn.append(icon("warning"), "没有找到可引用的条款依据，请谨慎参考。");
    bubble.appendChild(warn);
  }

  const actions = document.createElement("div");
  actions.className = "feedback";
  for (const [rating, label] of [["up", "有帮助"], ["down", "没帮助"]]) {
    const button = document.createElement("button");
    button.type = "button";
    button.append(icon(rating), label);
    button.title = label;
    button.setAttribute("data-testid", `feedback-${rating}`);
    if (message.feedback) button.disabled = true;
    if (message.feedback === rating) button.classList.add("chosen");
    button.addEventListener("click", () => sendFeedback(message, rating, actions));
    actions.appendChild(button);
  }
  bubble.appendChild(actions);
}

function renderConversation() {
  $("messages").innerHTML = "";
  for (const message of current.messages) {
    renderUser(message.question);
    if (message.answer) renderAnswer(addBubble("assistant"), message);
    else if (message.error) addBubble("assistant error").textContent = message.error;
  }
  renderHistory();
}

function renderHistory() {
  const list = $("history");
  list.innerHTML = "";
  for (const conv of conversations) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = conv.title;
    if (current && conv.id === current.id) button.classList.add("active");
    button.addEventListener("click", () => {
      current = conv;
      renderConversation();
    });
    item.appendChild(button);
    list.appendChild(item);
  }
}

// ----- asking -----
function parseEvent(block) {
  let event = "message";
  const data = [];
  for (const line of block.split(/\r\n|\n|\r/)) {
    if (line.startsWith(":")) continue;
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  return data.length ? { event, data: JSON.parse(data.join("\n")) } : null;
}

async function* serverEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    const blocks = buffer.split(/\r\n\r\n|\n\n|\r\r/);
    buffer = blocks.pop();
    for (const block of blocks) {
      const parsed = parseEvent(block);
      if (parsed) yield parsed;
    }
  }
}

// Streamed text is revealed a few characters per frame, so an answer visibly grows even when the
// server sends it in a few large pieces (offline answers arrive line by line).
class Typewriter {
  constructor(target) {
    this.target = target;
    this.pending = "";
    this.idle = Promise.resolve();
    this.release = null;
  }

  push(text) {
    this.pending += text;
    if (this.release) return;
    this.idle = new Promise((resolve) => { this.release = resolve; });
    requestAnimationFrame(() => this.tick());
  }

  tick() {
    const step = Math.max(2, Math.ceil(this.pending.length / 40));
    this.target.textContent += this.pending.slice(0, step);
    this.pending = this.pending.slice(step);
    if (this.pending) {
      requestAnimationFrame(() => this.tick());
    } else {
      const release = this.release;
      this.release = null;
      release();
    }
  }

  done() {
    return this.idle;
  }
}

async function ask(question) {
  if (!current) {
    current = { id: crypto.randomUUID ? crypto.randomUUID() : String(Date.now()), serverId: null,
                title: question.slice(0, 30), messages: [], updated: Date.now() };
    conversations.push(current);
  }
  const message = { question, answer: null };
  current.messages.push(message);
  renderUser(question);
  const bubble = addBubble("assistant pending");
  const status = document.createElement("p");
  status.className = "status";
  status.textContent = "正在思考…";
  const text = document.createElement("div");
  text.className = "answer-text";
  bubble.append(status, text);
  const typing = new Typewriter(text);
  const project = $("project-picker").value || null; // the picked project is the conversation's project

  try {
    const response = await fetch("/api/chat", {
      method: "POST",
      headers: headers(),
      body: JSON.stringify({ question, conversation_id: current.serverId, project_id: project, stream: true }),
    });
    if (!response.ok) throw new Error(await problemText(response));
    for await (const { event, data } of serverEvents(response)) {
      if (event === "step") status.textContent = `正在${TOOL_NAMES[data.tool] || data.tool}…`;
      else if (event === "token") {
        status.textContent = "正在回答…";
        typing.push(data.text);
      } else if (event === "error") throw new Error(data.detail);
      else if (event === "final") {
        message.answer = data;
        current.serverId = data.conversation_id;
      }
    }
    await typing.done();
    if (!message.answer) throw new Error("回答中断，请重试。");
    bubble.className = "message assistant";
    renderAnswer(bubble, message);
  } catch (error) {
    message.error = error.message;
    bubble.className = "message assistant error";
    bubble.textContent = error.message;
  }
  current.updated = Date.now();
  saveConversations();
  bubble.scrollIntoView({ block: "end" });
}

async function sendFeedback(message, rating, container) {
  const response = await fetch("/api/feedback", {
    method: "POST",
    headers: headers(),
    body: JSON.stringify({
      rating,
      conversation_id: message.answer.conversation_id,
      question: message.question,
      answer: message.answer.answer,
      citations: message.answer.citations,
    }),
  });
  if (!response.ok) {
    alert(await problemText(response));
    return;
  }
  message.feedback = rating;
  saveConversations();
  for (const button of container.querySelectorAll("button")) {
    button.disabled = true;
    button.classList.toggle("chosen", button.dataset.testid === `feedback-${rating}`);
  }
  container.appendChild(Object.assign(document.createElement("span"), { className: "hint", textContent: "感谢反馈" }));
}

// ----- projects -----
async function loadProjects() {
  const picker = $("project-picker");
  picker.length = 1;
  $("project-panel").hidden = true;
  $("project-chip").hidden = true;
  try {
    for (const p of await getJSON("/api/projects")) {
      picker.add(new Option(`${p.id} ${p.name}（${p.stage}）`, p.id));
    }
    $("project-error").hidden = picker.length > 1;
    $("project-error").textContent = picker.length > 1 ? "" : "没有可见的项目（项目记录需要相应用户组的 API 密钥，见“设置”）。";
  } catch (error) {
    $("project-error").hidden = false;
    $("project-error").textContent = error.message;
  }
}

async function showProject(id) {
  const panel = $("project-panel");
  $("project-chip").hidden = !id;
  $("chip-project").textContent = id;
  $("project-error").hidden = true;
  $("draft-status").textContent = "";
  if (!id) {
    panel.hidden = true;
    return;
  }
  $("checklist").innerHTML = "";
  $("next-actions").innerHTML = "";
  panel.hidden = false;
  try {
    const report = await getJSON(`/api/projects/${encodeURIComponent(id)}/readiness`);
    const verdict = $("project-verdict");
    verdict.replaceChildren(icon(report.ready ? "met" : "missing"),
      `从「${report.current_stage}」进入「${report.target_stage}」：${report.ready ? "已具备条件" : "尚未具备条件"}`);
    for (const item of report.items) {
      const li = document.createElement("li");
      li.className = item.status;
      li.dataset.status = item.status;
      li.append(icon(item.status), item.requirement);
      li.title = item.evidence;
      $("checklist").appendChild(li);
    }
    for (const action of report.next_actions) {
      $("next-actions").appendChild(Object.assign(document.createElement("li"), { textContent: action }));
    }
  } catch (error) {
    $("project-verdict").textContent = error.message;
  }
}

function filenameOf(response, fallback) {
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = disposition.match(/filename\*=UTF-8''([^;]+)/i);
  return match ? decodeURIComponent(match[1]) : fallback;
}

async function downloadDraft() {
  const id = $("project-picker").value;
  if (!id) return;
  $("draft-status").textContent = "正在生成草稿…";
  const response = await fetch(`/api/projects/${encodeURIComponent(id)}/proposal`, {
    method: "POST",
    headers: headers(),
    body: JSON.stringify({ format: "docx" }),
  });
  if (!response.ok) {
    $("draft-status").textContent = await problemText(response);
    return;
  }
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = filenameOf(response, `${id}-立项建议书.docx`);
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10000);
  const missing = JSON.parse(decodeURIComponent(response.headers.get("X-Linkage-Missing") || "%5B%5D"));
  $("draft-status").textContent = missing.length ? `已下载；有 ${missing.length} 处待补充（文中标为【待补充】）。` : "已下载。";
}

// ----- who am I -----
async function showAccess() {
  const note = $("access-note");
  try {
    const me = await getJSON("/api/me");
    note.classList.toggle("limited", !me.admin && !(me.groups && me.groups.length));
    if (me.local_admin) {
      note.textContent = "本机管理员模式：服务只在本机地址上监听且没有配置 API 密钥，你和命令行一样可以查看全部项目记录。";
    } else if (me.anonymous) {
      note.textContent = "未带 API 密钥：只能查询公开知识，看不到项目记录。需要时请在下方“设置”中填写密钥。";
    } else {
      const groups = me.admin ? "管理员" : (me.groups.length ? `用户组：${me.groups.join("、")}` : "只能查询公开知识");
      note.textContent = `已用 API 密钥登录：${me.user}（${groups}）。`;
    }
    note.hidden = false;
  } catch (error) {
    note.textContent = error.message;
    note.classList.add("limited");
    note.hidden = false;
  }
}

function setMenu(open) {
  document.body.classList.toggle("menu-open", open);
  $("scrim").hidden = !open;
  $("open-menu").setAttribute("aria-expanded", String(open));
}

// ----- wiring -----
$("ask-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question || busy) return;
  busy = true;
  $("send").disabled = true;
  $("question").value = "";
  try {
    await ask(question);
  } finally {
    busy = false;
    $("send").disabled = false;
    $("question").focus();
  }
});

$("question").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("ask-form").requestSubmit();
  }
});

for (const example of document.querySelectorAll(".example")) {
  example.addEventListener("click", () => {
    $("question").value = example.textContent;
    $("ask-form").requestSubmit();
  });
}

function newChat() {
  current = null;
  $("messages").innerHTML = "";
  renderHistory();
  setMenu(false);
  $("question").focus();
}

$("new-chat").addEventListener("click", newChat);
$("new-chat-top").addEventListener("click", newChat);
$("open-menu").append(icon("menu"));
$("close-menu").append(icon("close"));
$("new-chat-top").append(icon("plus"));
$("chip-clear").append(icon("close"));
$("open-menu").addEventListener("click", () => setMenu(true));
$("close-menu").addEventListener("click", () => setMenu(false));
$("scrim").addEventListener("click", () => setMenu(false));
$("chip-clear").addEventListener("click", () => {
  $("project-picker").value = "";
  showProject("");
});

$("project-picker").addEventListener("change", (event) => showProject(event.target.value));
$("download-draft").addEventListener("click", downloadDraft);

$("api-key").value = localStorage.getItem(KEY_KEY) || "";
$("save-key").addEventListener("click", () => {
  const key = $("api-key").value.trim();
  if (key) localStorage.setItem(KEY_KEY, key);
  else localStorage.removeItem(KEY_KEY);
  $("key-status").textContent = key ? "已保存" : "已清除";
  loadProjects();
  showAccess();
});

renderHistory();
loadProjects();
showAccess();
