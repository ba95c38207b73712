#!/bin/bash
# A diffusers component named .tensorfs (issue 10, class 10): it used to merge into tensorfs' own
# folder, where a clash with index.json or stats got a wrong explanation ("names that differ only
# past byte 255"). It is now shown as %2Etensorfs (a name no real component produces), with a
# warning, its tensors exact, and .tensorfs/ holds only tensorfs' own files.
. "$(dirname "$0")/lib.sh"

CK=$T/dif
$GEN diffusers "$CK" --tensors 6 --seed 8 --size-mb 1 -q || { fail "gen_ckpt"; tfs_done; }
MF=$CK.manifest.json
mv "$CK/vae" "$CK/.tensorfs"
sed -i 's/"vae"/".tensorfs"/' "$CK/model_index.json"
MNT=$T/mnt
MOUNT_ERR_OK="shown as %2Etensorfs" tfs_mount "$CK" "$MNT" || tfs_done
check "the mount warns about the rename" grep -q "shown as %2Etensorfs" "$T/mount.err"
extra=$(ls "$MNT/.tensorfs" | grep -v -x -E 'index.json|stats|metadata.json' | tr '\n' ' ')
check ".tensorfs/ holds only tensorfs' own files (also: $extra)" test -z "$extra"
n=0 bad=0
while read -r p sha; do
	n=$((n + 1))
	got=$(sha256sum "$MNT/%2Etensorfs/${p#vae/}" 2>/dev/null | cut -d' ' -f1)
	[ "$got" = "$sha" ] || bad=$((bad + 1))
done < <($PY -c 'import json,sys
for t in json.load(open(sys.argv[1]))["tensors"]:
    if t["path"].startswith("vae/") and t["length"] > 0: print(t["path"], t["sha256"])' "$MF")
check "the component's tensors are exact under %2Etensorfs/ ($bad of $n not)" test "$bad" = 0 -a "$n" -gt 0
tfs_unmount "$MNT"
tfs_done
