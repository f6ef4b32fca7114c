#!/usr/bin/env python3
"""Checks the size of the code under src/ (run by `make test`).

Every .cpp and .hpp file fails the check if it has more than MAX_FILE_LINES lines, or if a
function body in it is longer than MAX_FUNCTION_LINES lines, counted from the line of its
opening brace to the line of its closing brace. Braces are matched on the code alone: comments,
string, character and raw string literals and preprocessor lines are left out. Braces that open
a namespace, class, struct, union, enum or `extern "C"` block are containers; any other brace
opened directly inside containers only is a function body (a lambda or block inside it is part
of it), except a `= {...}` initializer. One line per violation, then "N passed, N failed" (one
check per file). Exits non-zero if any file failed.

Usage: scripts/check_sizes.py [FILE_OR_DIR...]   (default: src/ of the repository)
"""
import os
import re
import sys

MAX_FILE_LINES = 700
MAX_FUNCTION_LINES = 80

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RAW_STRING = re.compile(r'(?:u8|u|U|L)?R"([^()\\\s"]{0,16})\(')
CONTAINER = re.compile(r'\b(?:namespace|class|struct|union|enum)\b[^;(){}]*$')
EXTERN_BLOCK = re.compile(r'\bextern\s*"[^"]*"\s*$')


def blank(text):
    """`text` with everything but its line breaks turned into spaces."""
    return re.sub(r'[^\n]', ' ', text)


def strip_code(src):
    """`src` with comments, literals and preprocessor lines blanked out (same length and lines).

    Literals keep their quotes, so `extern "C"` stays recognisable as `extern "   "`.
    """
    out = []
    i = 0
    n = len(src)
    line_start = True  # only whitespace so far on this line
    while i < n:
        c = src[i]
        if c == '\n':
            out.append(c)
            i += 1
            line_start = True
            continue
        if line_start and c == '#':
            j = i
            while True:  # the directive, with its backslash-continued lines
                k = src.find('\n', j)
                if k < 0:
                    k = n
                    break
                if src[j:k].rstrip().endswith('\\'):
                    j = k + 1
                    continue
                break
            out.append(blank(src[i:k]))
            i = k
            continue
        if not c.isspace():
            line_start = False
        if src.startswith('//', i):
            j = src.find('\n', i)
            j = n if j < 0 else j
            out.append(blank(src[i:j]))
            i = j
            continue
        if src.startswith('/*', i):
            j = src.find('*/', i + 2)
            j = n if j < 0 else j + 2
            out.append(blank(src[i:j]))
            i = j
            continue
        m = RAW_STRING.match(src, i)
        if m and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == '_')):
            end = ')' + m.group(1) + '"'
            j = src.find(end, m.end())
            j = n if j < 0 else j + len(end)
            out.append('"' + blank(src[i + 1:j - 1]) + '"')
            i = j
            continue
        if c == "'" and is_digit_separator(src, i):
            out.append(' ')
            i += 1
            continue
        if c in '"\'':
            j = i + 1
            while j < n and src[j] != c and src[j] != '\n':
                j += 2 if src[j] == '\\' else 1
            if j < n and src[j] == c:
                out.append(c + blank(src[i + 1:j]) + c)
                i = j + 1
            else:  # unterminated: it ends with its line
                j = min(j, n)
                out.append(c + blank(src[i + 1:j]))
                i = j
            continue
        out.append(c)
        i += 1
    return ''.join(out)


def is_digit_separator(src, i):
    """Whether the quote at `i` separates digits (1'000, 0xFF'FF) rather than opening a char."""
    j = i
    while j > 0 and (src[j - 1].isalnum() or src[j - 1] in "_.'"):
        j -= 1
    return j < i and src[j].isdigit()


def check_functions(code):
    """(line, length) of each function body longer than the limit, and the line of an
    unbalanced brace (or None)."""
    long_bodies = []
    stack = []  # per open brace: (line, kind) with kind "container", "function" or "inner"
    line = 1
    last = 0  # just after the last `;`, `{` or `}`: where the current declaration starts
    for k, ch in enumerate(code):
        if ch == '\n':
            line += 1
        elif ch == ';':
            last = k + 1
        elif ch == '{':
            head = code[last:k]
            if stack and stack[-1][1] != 'container':
                kind = 'inner'
            elif CONTAINER.search(head) or EXTERN_BLOCK.search(head):
                kind = 'container'
            elif head.rstrip().endswith('='):
                kind = 'inner'  # an initializer's braces: data, not code
            else:
                kind = 'function'
            stack.append((line, kind))
            last = k + 1
        elif ch == '}':
            if not stack:
                return long_bodies, line
            start, kind = stack.pop()
            if kind == 'function' and line - start + 1 > MAX_FUNCTION_LINES:
                long_bodies.append((start, line - start + 1))
            last = k + 1
    if stack:
        return long_bodies, stack[-1][0]
    return long_bodies, None


def check_file(path, shown):
    """Prints the file's violations; returns whether it passed."""
    with open(path, encoding='utf-8', errors='replace') as f:
        src = f.read()
    ok = True
    lines = len(src.splitlines())
    if lines > MAX_FILE_LINES:
        print(f'{shown}:1: file of {lines} lines (limit {MAX_FILE_LINES})')
        ok = False
    long_bodies, unbalanced = check_functions(strip_code(src))
    for start, length in long_bodies:
        print(f'{shown}:{start}: function body of {length} lines (limit {MAX_FUNCTION_LINES})')
        ok = False
    if unbalanced is not None:
        print(f'{shown}:{unbalanced}: unbalanced braces (cannot measure the functions)')
        ok = False
    return ok


def sources(args):
    """Every .cpp and .hpp file named in `args` or under a directory named there, sorted."""
    found = []
    for arg in args:
        if os.path.isdir(arg):
            for d, _, files in os.walk(arg):
                found += [os.path.join(d, f) for f in files if f.endswith(('.cpp', '.hpp'))]
        else:
            found.append(arg)
    return sorted(found)


def main():
    args = sys.argv[1:] or [os.path.join(ROOT, 'src')]
    passed = failed = 0
    for path in sources(args):
        shown = os.path.relpath(path, ROOT) if not sys.argv[1:] else path
        if check_file(path, shown):
            passed += 1
        else:
            failed += 1
    print(f'{passed} passed, {failed} failed')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
