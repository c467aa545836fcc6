# Attack: a compile's precompiled headers are shared by every compile of the node. Run by the
# compiler itself (the request's compiler options `-wrapper /bin/sh,iso_precompiled_tamper.sh`)
# inside a compile sandbox, which binds them read-only: try every way to change, replace or add
# to them. The directory is in the file `precompiled_dir` beside this script. It reports on
# stderr: with -pipe, the wrapped compiler's stdout is the assembler's input.
dir=$(cat precompiled_dir)
gch="$dir/iostream.gch"
try() {
    what=$1
    shift
    if "$@" 2>/dev/null; then echo "$what: SUCCEEDED" >&2; else echo "$what: refused" >&2; fi
}
try "read the header" test -r "$gch"
try "write" sh -c "echo x > '$gch'"
try "append" sh -c "echo x >> '$gch'"
try "truncate" truncate -s 0 "$gch"
try "remove" rm "$gch"
try "rename" mv "$gch" "$dir/moved.gch"
try "chmod" chmod 666 "$gch"
try "touch" touch "$gch"
try "replace the stamp" sh -c "echo x > '$dir/.tiderun-precompiled'"
try "new header" sh -c "echo x > '$dir/vector.gch'"
try "mkdir" mkdir "$dir/new"
try "symlink" ln -s /etc/passwd "$dir/bits/evil.h.gch"
try "remove the directory" rm -rf "$dir/bits"
exit 1
