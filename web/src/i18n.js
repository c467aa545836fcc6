// Interface strings in English and Chinese. The locale comes from the browser's language the
// first time, then from the student's choice (remembered in localStorage).
import { prefs } from './storage.js';

const STRINGS = {
  en: {
    'app.title': 'tiderun — run your code',
    'skip': 'Skip to the editor',
    'language': 'Language',
    'run': 'Run',
    'run.hint': '{key}',
    'stop': 'Stop',
    'share': 'Share',
    'exercises': 'Exercises',
    'theme.toDark': 'Dark theme',
    'theme.toLight': 'Light theme',
    'locale.switch': '中文',
    'locale.switchLabel': 'Switch the interface to Chinese',
    'editor.label': 'Code editor',
    'editor.hint': 'Tab indents; press Esc, then Tab, to leave the editor.',
    'console': 'Console',
    'console.label': 'Program output',
    'console.clear': 'Clear',
    'console.empty': 'Press Run (or {key}) to run your program. Its output appears here.',
    'input.label': 'Input for the running program',
    'input.placeholder': 'Type, then press Enter',
    'input.placeholderIdle': 'Input for the program',
    'input.send': 'Send',
    'input.eof': 'End input',
    'input.eofTitle': 'Close the program’s input (end of file, like Ctrl+D)',
    'status.idle': 'Ready',
    'status.connecting': 'Starting…',
    'status.compiling': 'Compiling…',
    'status.running': 'Running… the program can read what you type below',
    'status.ok': 'Finished',
    'status.runtime_error': 'Error: the program stopped with exit code {code}',
    'status.signal': 'Error: the program was killed by {signal}',
    'status.time_limit': 'Time limit: the program used too much CPU time',
    'status.wall_time_limit': 'Time limit: the program ran too long',
    'status.memory_limit': 'Memory limit: the program used too much memory',
    'status.output_limit': 'Output too long: the program printed too much',
    'status.file_size_limit': 'File too large: the program wrote too big a file',
    'status.compile_error': 'Compile error',
    'status.internal_error': 'Server error: the run could not finish',
    'status.stopped': 'Stopped',
    'status.tooMany': 'Too many runs right now. Please wait {seconds} s and try again.',
    'status.unreachable': 'Cannot reach the server. Check your connection and try again.',
    'key.needed': 'This server needs a class key. Open the class link your teacher gave you, or enter the class key.',
    'key.title': 'Class key',
    'key.label': 'Class key',
    'key.use': 'Use this key',
    'key.refused': 'This key does not work: {message}',
    'key.checking': 'Checking the key…',
    'status.unavailable': 'The server is restarting. Please try again in {seconds} s.',
    'status.serverError': 'The server said: {message}',
    'status.line': 'line {line}',
    'status.gotoLine': 'Go to line {line}',
    'status.measure': '{time} s · {memory} MB',
    'status.stdinClosed': '(input closed)',
    'limit.cpu_ms': 'CPU time exceeded {value} ms',
    'limit.wall_ms': 'Ran longer than {seconds} s',
    'limit.memory_mb': 'Memory exceeded {value} MB',
    'limit.max_output_bytes': 'Output cut at {kb} KB: the rest was not kept',
    'limit.max_file_size_bytes': 'A file exceeded {kb} KB',
    'limit.request_output_bytes': 'Output cut at {kb} KB (all runs of this request together)',
    'limit.request_wall_ms': 'This request ran longer than {seconds} s',
    'console.cut': 'Output cut: the rest was not kept',
    'limit.input_wait_ms': 'Waited for input longer than {duration} in all',
    'status.input_wait_limit': 'Waited too long for input',
    'status.waiting': 'Waiting for your input: type below and press Enter',
    'status.waitingEnds': 'Still waiting for your input: the program ends in {seconds} s',
    'time.seconds': '{n} s',
    'time.minutes': '{n} min',
    'files.skipped': '{name} is not shown: {reason}',
    'share.title': 'Share your code',
    'share.saving': 'Saving…',
    'share.ready': 'Anyone with this link sees this code:',
    'share.link': 'Share link',
    'share.copy': 'Copy link',
    'share.copied': 'Copied',
    'share.close': 'Close',
    'share.notFound': 'This shared link does not exist (it may have been mistyped).',
    'share.loaded': 'Opened shared code',
    'ex.title': 'Exercises',
    'ex.none': 'No exercises yet. A teacher adds them in the exercises directory.',
    'ex.loading': 'Loading…',
    'ex.close': 'Close exercise',
    'ex.submit': 'Run tests',
    'ex.submitting': 'Running the tests…',
    'ex.score': 'Score: {passed}/{total}',
    'ex.allPassed': 'All tests passed — well done!',
    'ex.test': 'Test',
    'ex.hidden': 'hidden test',
    'ex.input': 'Input',
    'ex.expected': 'Expected output',
    'ex.got': 'Your output',
    'ex.tests': 'Examples',
    'ex.notFound': 'This exercise does not exist.',
    'verdict.accepted': 'Passed',
    'verdict.wrong_answer': 'Wrong answer',
    'verdict.runtime_error': 'Runtime error',
    'verdict.signal': 'Killed by a signal',
    'verdict.time_limit': 'Time limit',
    'verdict.wall_time_limit': 'Time limit',
    'verdict.memory_limit': 'Memory limit',
    'verdict.output_limit': 'Output too long',
    'verdict.file_size_limit': 'File too large',
    'verdict.compile_error': 'Compile error',
    'verdict.internal_error': 'Server error',
    'lang.notInstalled': '{name} (not installed)',
    'reset': 'Example',
    'reset.title': 'Replace the code with this language’s example',
    'hint.label': 'Hint: ',
    'reset.confirm': 'Replace your code with the example? Your code will be lost.',
    'ex.languages': 'Languages: {list}',
    'ex.allLanguages': 'any language',
    'ex.done': 'Done',
    'ex.notDone': 'Not done yet',
  },
  zh: {
    'app.title': 'tiderun — 运行你的代码',
    'skip': '跳到编辑器',
    'language': '语言',
    'run': '运行',
    'run.hint': '{key}',
    'stop': '停止',
    'share': '分享',
    'exercises': '练习',
    'theme.toDark': '深色主题',
    'theme.toLight': '浅色主题',
    'locale.switch': 'English',
    'locale.switchLabel': '将界面切换为英文',
    'editor.label': '代码编辑器',
    'editor.hint': 'Tab 键缩进；先按 Esc 再按 Tab 可离开编辑器。',
    'console': '控制台',
    'console.label': '程序输出',
    'console.clear': '清空',
    'console.empty': '点击“运行”（或按 {key}）运行程序，输出会显示在这里。',
    'input.label': '给正在运行的程序输入',
    'input.placeholder': '输入后按回车',
    'input.placeholderIdle': '程序的输入',
    'input.send': '发送',
    'input.eof': '结束输入',
    'input.eofTitle': '关闭程序的输入（文件结束，相当于 Ctrl+D）',
    'status.idle': '就绪',
    'status.connecting': '正在启动…',
    'status.compiling': '正在编译…',
    'status.running': '运行中…程序可以读取你在下方输入的内容',
    'status.ok': '运行结束',
    'status.runtime_error': '出错：程序以退出码 {code} 结束',
    'status.signal': '出错：程序被信号 {signal} 终止',
    'status.time_limit': '超出时间限制：程序占用的 CPU 时间过多',
    'status.wall_time_limit': '超出时间限制：程序运行时间过长',
    'status.memory_limit': '超出内存限制：程序使用的内存过多',
    'status.output_limit': '输出过长：程序打印的内容太多',
    'status.file_size_limit': '文件过大：程序写入的文件太大',
    'status.compile_error': '编译错误',
    'status.internal_error': '服务器错误：运行未能完成',
    'status.stopped': '已停止',
    'status.tooMany': '当前运行次数过多，请等待 {seconds} 秒后再试。',
    'status.unreachable': '无法连接服务器，请检查网络后重试。',
    'key.needed': '这个服务器需要班级密钥。请打开老师给的班级链接，或输入班级密钥。',
    'key.title': '班级密钥',
    'key.label': '班级密钥',
    'key.use': '使用这个密钥',
    'key.refused': '这个密钥无效：{message}',
    'key.checking': '正在检查密钥…',
    'status.unavailable': '服务器正在重启，请 {seconds} 秒后再试。',
    'status.serverError': '服务器提示：{message}',
    'status.line': '第 {line} 行',
    'status.gotoLine': '跳到第 {line} 行',
    'status.measure': '{time} 秒 · {memory} MB',
    'status.stdinClosed': '（输入已关闭）',
    'limit.cpu_ms': 'CPU 时间超过 {value} 毫秒',
    'limit.wall_ms': '运行时间超过 {seconds} 秒',
    'limit.memory_mb': '内存超过 {value} MB',
    'limit.max_output_bytes': '输出在 {kb} KB 处截断，之后的内容未保留',
    'limit.max_file_size_bytes': '文件超过 {kb} KB',
    'limit.request_output_bytes': '输出在 {kb} KB 处截断（本次请求的所有运行合计）',
    'limit.request_wall_ms': '本次请求运行超过 {seconds} 秒',
    'console.cut': '输出已截断，之后的内容未保留',
    'limit.input_wait_ms': '等待输入累计超过 {duration}',
    'status.input_wait_limit': '等待输入时间过长',
    'status.waiting': '等待你的输入：在下方输入后按回车',
    'status.waitingEnds': '仍在等待你的输入：{seconds} 秒后程序将结束',
    'time.seconds': '{n} 秒',
    'time.minutes': '{n} 分钟',
    'files.skipped': '{name} 未显示：{reason}',
    'share.title': '分享代码',
    'share.saving': '正在保存…',
    'share.ready': '任何人打开这个链接都能看到这段代码：',
    'share.link': '分享链接',
    'share.copy': '复制链接',
    'share.copied': '已复制',
    'share.close': '关闭',
    'share.notFound': '这个分享链接不存在（可能输错了）。',
    'share.loaded': '已打开分享的代码',
    'ex.title': '练习',
    'ex.none': '还没有练习。老师可以在练习目录中添加。',
    'ex.loading': '加载中…',
    'ex.close': '关闭练习',
    'ex.submit': '运行测试',
    'ex.submitting': '正在运行测试…',
    'ex.score': '得分：{passed}/{total}',
    'ex.allPassed': '全部测试通过，做得好！',
    'ex.test': '测试',
    'ex.hidden': '隐藏测试',
    'ex.input': '输入',
    'ex.expected': '期望输出',
    'ex.got': '你的输出',
    'ex.tests': '样例',
    'ex.notFound': '这个练习不存在。',
    'verdict.accepted': '通过',
    'verdict.wrong_answer': '答案错误',
    'verdict.runtime_error': '运行错误',
    'verdict.signal': '被信号终止',
    'verdict.time_limit': '超时',
    'verdict.wall_time_limit': '超时',
    'verdict.memory_limit': '超出内存',
    'verdict.output_limit': '输出过长',
    'verdict.file_size_limit': '文件过大',
    'verdict.compile_error': '编译错误',
    'verdict.internal_error': '服务器错误',
    'lang.notInstalled': '{name}（未安装）',
    'reset': '示例',
    'reset.title': '用该语言的示例替换当前代码',
    'hint.label': '提示：',
    'reset.confirm': '用示例替换你的代码吗？你写的代码会被覆盖。',
    'ex.languages': '语言：{list}',
    'ex.allLanguages': '任何语言',
    'ex.done': '已完成',
    'ex.notDone': '还没完成',
  },
};

export const LOCALES = Object.keys(STRINGS);

/** More strings, per locale (another page of the bundle, e.g. the operator console's). */
export function addStrings(more) {
  for (const l of LOCALES) Object.assign(STRINGS[l], more[l] || {});
}

let current = pickLocale();
const listeners = [];

/** The remembered choice, else the browser's first language that we have. */
function pickLocale() {
  const saved = prefs.get('locale');
  if (LOCALES.includes(saved)) return saved;
  for (const tag of navigator.languages || [navigator.language || 'en']) {
    const base = String(tag).toLowerCase().split('-')[0];
    if (LOCALES.includes(base)) return base;
  }
  return 'en';
}

export function locale() {
  return current;
}

/** The keys that run the program, as this computer names them. */
const RUN_KEY = /Mac|iPhone|iPad|iPod/.test(navigator.platform || '') ? '⌘+Enter' : 'Ctrl+Enter';

/** The string for `key` with `{name}` placeholders filled in (`{key}`: the run keys). */
export function t(key, params = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  const values = { key: RUN_KEY, ...params };
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in values ? String(values[name]) : m));
}

export function setLocale(next) {
  if (!LOCALES.includes(next) || next === current) return;
  current = next;
  prefs.set('locale', next);
  applyStatic();
  for (const fn of listeners) fn(next);
}

/** Call `fn` after every locale change (for text built in code). */
export function onLocaleChange(fn) {
  listeners.push(fn);
}

/**
 * Fill the static markup: `data-i18n="key"` sets the text, `data-i18n-attr="attr:key;..."`
 * sets attributes.
 */
export function applyStatic(root = document) {
  document.documentElement.lang = current === 'zh' ? 'zh-CN' : 'en';
  // A page names its own title's key (`<body data-title="...">`); the classroom page's by default.
  document.title = t(document.body?.dataset.title || 'app.title');
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split(':');
      if (attr && key) el.setAttribute(attr.trim(), t(key.trim()));
    }
  }
}
