#!/bin/bash
# Hostile tensor names on a real mount: '/', '..', "../../etc/passwd", leading/trailing/double dots,
# control bytes (ESC sequences, tab, newline, DEL), Unicode (incl. a right-to-left override),
# components over 255 bytes (two sharing their first 255), reserved "%self"/"%" names. Every
# tensor must appear exactly once, at a path inside the mount made of safe names (no '/', '.', '..',
# control byte, none over 255 bytes), its user.tensorfs.name xattr giving the original name and its
# bytes exact. A name with NUL (JSON \u0000) must be refused at mount with a clear message.
. "$(dirname "$0")/lib.sh"

CK=$T/ck
mkdir -p "$CK"
$PY - "$CK/model.safetensors" "$T/expect.json" <<'PYEOF'
import json, struct, sys
names = ["a", "a.b", "x..y", "trail.", ".lead", ".", "..", "a/b", "../../etc/passwd", "/abs",
         "ctl\x01\x1b[31mred\x1b[0m", "tab\tnl\n", "del\x7f", "%self", "a.%self", "%", "%2F",
         "модель.层.0.weight", "\U0001F642", "rtl\u202eevil.txt", "w" * 300, "w" * 299 + "v",
         "deep." + "w" * 256 + ".x", "sp ace. dot"]
hdr, off, expect = {}, 0, {}
for i, n in enumerate(names):
    ln = 3 + i
    hdr[n] = {"dtype": "U8", "shape": [ln], "data_offsets": [off, off + ln]}
    expect[n] = bytes((i * 7 + j) & 255 for j in range(ln)).hex()
    off += ln
js = json.dumps(hdr).encode()
js += b" " * ((8 - len(js) % 8) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(js)) + js)
    for n in names:
        f.write(bytes.fromhex(expect[n]))
json.dump(expect, open(sys.argv[2], "w"))
PYEOF
# Odd names among the checkpoint's other files: not UTF-8, control bytes. They pass through (escaped
# by the tree rules) and must not fail the mount or break .tensorfs/index.json.
touch "$CK/$(printf 'latin1-\xe9t\xe9.txt')" "$CK/$(printf 'ctl\x01\x1b.txt')"
MNT=$T/mnt
tfs_mount "$CK" "$MNT" || tfs_done
check "a file name that is not UTF-8 passes through" test -e "$MNT/$(printf 'latin1-\xe9t\xe9.txt')"
check "a file name with control bytes is escaped" test -e "$MNT/ctl%01%1B.txt"
check ".tensorfs/index.json stays valid JSON" $PY -c 'import json,sys; json.load(open(sys.argv[1]))' "$MNT/.tensorfs/index.json"
report=$($PY - "$MNT" "$T/expect.json" <<'PYEOF'
import json, os, sys
mnt, expect = sys.argv[1], json.load(open(sys.argv[2]))
seen, problems = {}, []
real_mnt = os.path.realpath(mnt)
for root, dirs, files in os.walk(mnt.encode()):
    for name in dirs + files:
        if len(name) > 255 or name in (b".", b"..") or b"/" in name or any(c < 0x20 or c == 0x7f for c in name):
            problems.append("unsafe name %r" % name)
    for name in files:
        p = os.path.join(root, name)
        if not os.path.realpath(p).startswith(real_mnt.encode() + b"/"):
            problems.append("escapes the mount: %r" % p)
        if b"/.tensorfs/" in p or name == b"model.safetensors" or name.endswith(b".txt") and b"/" not in p[len(mnt) + 1:]:
            continue
        try:
            orig = os.getxattr(p, "user.tensorfs.name").decode("utf-8", "surrogateescape")
        except OSError as e:
            problems.append("no name xattr on %r: %s" % (p, e))
            continue
        if orig in seen:
            problems.append("%r appears twice: %r and %r" % (orig, seen[orig], p))
        seen[orig] = p
        with open(p, "rb") as f:
            if f.read().hex() != expect.get(orig):
                problems.append("wrong bytes for %r at %r" % (orig, p))
missing = sorted(set(expect) - set(seen))
print(json.dumps({"tensors": len(seen), "missing": missing, "problems": problems}))
PYEOF
)
echo "names: $report"
check "every hostile name shown once, safely, with exact bytes" \
	$PY -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(d["missing"] or d["problems"] or d["tensors"] != 24)' "$report"
check "../../etc/passwd stays inside" test -f "$MNT/%/%/%2F/%/%2Fetc%2Fpasswd"
check "a.b under a/, a as a/%self" test -f "$MNT/a/b" -a -f "$MNT/a/%self"
check "control bytes escaped" test -f "$MNT/ctl%01%1B[31mred%1B[0m"
check "nothing outside the mount was created" test ! -e "$T/etc" -a ! -e "$MNT/../etc"
tfs_unmount "$MNT"

# A NUL inside a name: refused with a message naming the file and the NUL, nothing mounted.
mkdir -p "$T/nul"
$PY - "$T/nul/model.safetensors" <<'PYEOF'
import struct, sys
js = b'{"ok":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"evil\\u0000.x":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}'
js += b" " * ((8 - len(js) % 8) % 8)
open(sys.argv[1], "wb").write(struct.pack("<Q", len(js)) + js + b"\x01\x02")
PYEOF
mkdir -p "$T/mnt2"
track_mount "$T/mnt2"
if "$TENSORFS" mount "$T/nul" "$T/mnt2" 2>"$T/nul.err"; then
	fail "a NUL in a tensor name was accepted"
else
	echo "NUL refused: $(cat "$T/nul.err")"
	check "NUL refused with a clear message" grep -q "model.safetensors.*NUL" "$T/nul.err"
fi
check "nothing mounted after the refusal" eval "! is_mounted '$T/mnt2'"
tfs_done
