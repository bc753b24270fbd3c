#!/usr/bin/env python3
"""tests/server/test_exports.py - each shared library exports exactly the
functions its public headers declare: every dynamic symbol it defines is
declared (functions as functions, data as extern data), and every declared
function is exported. Inline functions defined in the headers are not
exported and not expected.

  test_exports.py --lib LIB.so server.h,ops.h,... [--lib ...] --headers H...

--headers lists every public header (meson's public_headers); each --lib
names, by basename, the ones that make its API. Every public header must
belong to some library. Needs nm (binutils); exits 77 without it.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys


def strip_comments(text):
    text = re.sub(r'/\*.*?\*/', lambda m: '\n' * m.group(0).count('\n'), text, flags=re.S)
    return re.sub(r'//[^\n]*', '', text)


def preprocess(text):
    """Join continued lines, drop directives and what #ifdef __cplusplus
    guards (extern "C" { ... }); other conditionals count as true (header
    guards, feature checks)."""
    text = text.replace('\\\n', ' ')
    out, stack = [], []
    for line in text.split('\n'):
        s = line.strip()
        if s.startswith('#'):
            d = s[1:].strip()
            if d.startswith('ifdef') or d.startswith('ifndef') or d.startswith('if'):
                cxx = d.startswith('ifdef') and d.split()[1:2] == ['__cplusplus']
                stack.append(not cxx)
            elif d.startswith('else'):
                if stack:
                    stack[-1] = not stack[-1]
            elif d.startswith('elif'):
                if stack:
                    stack[-1] = True
            elif d.startswith('endif'):
                if stack:
                    stack.pop()
            continue
        if all(stack):
            out.append(line)
    return '\n'.join(out)


def drop_attributes(stmt):
    while True:
        m = re.search(r'__attribute__\s*\(', stmt)
        if not m:
            return stmt
        depth, i = 0, m.end() - 1
        while i < len(stmt):
            if stmt[i] == '(':
                depth += 1
            elif stmt[i] == ')':
                depth -= 1
                if depth == 0:
                    break
            i += 1
        stmt = stmt[:m.start()] + ' ' + stmt[i + 1:]


def top_level_statements(text):
    """Yield (statement, is_definition) at brace depth 0."""
    cur, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '{':
            head = ''.join(cur).strip()
            depth, j = 0, i
            while j < n:
                if text[j] == '{':
                    depth += 1
                elif text[j] == '}':
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if re.search(r'\)\s*$', drop_attributes(head)):
                yield head, True   # a function defined here (static inline)
                cur = []
            else:
                cur.append(text[i:j + 1])  # struct / union / enum body
            i = j + 1
            continue
        if c == ';':
            yield ''.join(cur).strip(), False
            cur = []
        else:
            cur.append(c)
        i += 1


def declarations(path):
    """(functions, data, inline functions) a header declares."""
    with open(path, encoding='utf-8') as f:
        text = preprocess(strip_comments(f.read()))
    funcs, data, inline = set(), set(), set()
    for stmt, is_def in top_level_statements(text):
        stmt = ' '.join(drop_attributes(stmt).split())
        if not stmt or stmt.startswith('typedef') or stmt.startswith('_Static_assert'):
            continue
        body_free = re.sub(r'\{.*\}', '{}', stmt)
        m = re.match(r'^[^(]*?\b([A-Za-z_]\w*)\s*\(', body_free)
        if m and '(*' not in body_free.split(m.group(1))[0]:
            (inline if is_def else funcs).add(m.group(1))
            continue
        if is_def:
            continue
        if body_free.startswith('extern '):
            m = re.search(r'([A-Za-z_]\w*)\s*(\[[^\]]*\])?\s*$', body_free)
            if m:
                data.add(m.group(1))
    return funcs, data, inline


def exported(lib, nm):
    out = subprocess.run([nm, '-D', '--defined-only', lib], check=True,
                         capture_output=True, text=True).stdout
    funcs, data = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        kind, name = parts[-2], parts[-1].split('@')[0]
        if kind == 'A':          # the version node (SGFUSE_0.3)
            continue
        if kind in 'TWti':
            funcs.add(name)
        else:
            data.add(name)
    return funcs, data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--lib', nargs=2, action='append', required=True,
                    metavar=('SO', 'HEADERS'))
    ap.add_argument('--headers', nargs='+', required=True)
    args = ap.parse_args()

    nm = os.environ.get('NM') or shutil.which('nm')
    if not nm:
        print('SKIP: no nm (binutils)')
        return 77
    by_name = {}
    for h in args.headers:
        by_name[os.path.basename(h)] = h
    failures = 0
    used = set()
    for lib, names in args.lib:
        want_funcs, want_data, inline = set(), set(), set()
        for name in names.split(','):
            if name not in by_name:
                print(f'FAIL {lib}: header {name} is not among the public headers')
                failures += 1
                continue
            used.add(name)
            f, d, i = declarations(by_name[name])
            want_funcs |= f
            want_data |= d
            inline |= i
        got_funcs, got_data = exported(lib, nm)
        label = os.path.basename(lib)
        for s in sorted(got_funcs - want_funcs):
            why = ' (an inline function in a header)' if s in inline else ''
            print(f'FAIL {label}: exports {s}, which its headers do not declare{why}')
            failures += 1
        for s in sorted(want_funcs - got_funcs):
            print(f'FAIL {label}: {s} is declared but not exported')
            failures += 1
        for s in sorted(got_data - want_data):
            print(f'FAIL {label}: exports data symbol {s}, which its headers do not declare')
            failures += 1
        for s in sorted(want_data - got_data):
            print(f'FAIL {label}: extern {s} is declared but not exported')
            failures += 1
        if not want_funcs:
            print(f'FAIL {label}: found no declarations in {names} (parser broken?)')
            failures += 1
        print(f'{label}: {len(got_funcs)} functions exported, {len(want_funcs)} declared, '
              f'{len(inline)} inline left out')
    for name in sorted(set(by_name) - used):
        print(f'FAIL public header {name} belongs to no library in this test')
        failures += 1
    print('FAIL test_exports' if failures else 'PASS test_exports')
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
