"""diffusers folder: component dirs (unet sharded with an index, vae, text_encoder), passthrough files
(model_index.json, unet/config.json, scheduler/..., tokenizer/...), every tensor's bytes and xattrs,
the index.json keys "component/name"."""
import json
import os
import stat

from common import Checker, Mount, check_tree, gen, read_all, shard_slice, tmpdir

c = Checker("t_diffusers")
d = tmpdir("ck")
ck = os.path.join(d, "sd")
m = gen("diffusers", ck, "--tensors", 120, "--shards", 2, "--seed", 51)
comps = {t["component"] for t in m["tensors"]}
assert comps == {"unet", "vae", "text_encoder"}, comps

with Mount(ck) as mnt:
    check_tree(c, mnt.path, m)
    top = set(os.listdir(mnt.path))
    for want in ("unet", "vae", "text_encoder", "scheduler", "tokenizer", "feature_extractor",
                 "model_index.json", ".tensorfs"):
        c.check(want in top, "root entry", "%s in %r" % (want, sorted(top)))
    c.check("safety_checker" not in top, "absent component not shown")
    for comp in ("unet", "vae", "text_encoder"):
        c.check(stat.S_ISDIR(os.stat(mnt.p(comp)).st_mode), "component is a dir", comp)
    unet = set(os.listdir(mnt.p("unet")))
    for want in ("config.json", "conv_in", "down_blocks", "diffusion_pytorch_model.safetensors.index.json",
                 "diffusion_pytorch_model-00001-of-00002.safetensors"):
        c.check(want in unet, "unet entry", "%s in %r" % (want, sorted(unet)))
    c.check(os.path.isfile(mnt.p("unet/conv_in/weight")), "unet/conv_in/weight is a file")
    c.check(os.path.isfile(mnt.p("text_encoder/text_model/embeddings/token_embedding/weight")),
            "text_encoder tensor path")
    for f in m["files"]:
        c.check(read_all(mnt.p(f["rel"])) == read_all(os.path.join(ck, f["rel"])), "file bytes", f["rel"])
    for t in m["tensors"]:
        p = mnt.p(t["path"])
        c.check(t["path"].startswith(t["component"] + "/"), "path under component", t["path"])
        try:
            c.eq(os.stat(p).st_size, t["length"], "tensor size", t["path"])
            c.check(read_all(p) == shard_slice(m, t), "tensor bytes", t["path"])
            c.eq(os.getxattr(p, "user.tensorfs.shard"), t["shard"].encode(), "xattr shard", t["path"])
            c.eq(os.getxattr(p, "user.tensorfs.name"), t["name"].encode(), "xattr name", t["path"])
            c.eq(os.getxattr(p, "user.tensorfs.offset"), str(t["offset"]).encode(), "xattr offset", t["path"])
        except OSError as e:
            c.check(False, "tensor access", "%s: %s" % (t["path"], e))
    idx = json.loads(read_all(mnt.p(".tensorfs/index.json")))
    c.eq(idx.get("layout"), "diffusers", "index layout")
    byk = {x.get("key"): x for x in idx.get("tensors", [])}
    c.eq(set(byk), {t["key"] for t in m["tensors"]}, "index keys")
    for t in m["tensors"]:
        x = byk.get(t["key"], {})
        c.eq(x.get("component"), t["component"], "index component", t["key"])
        c.eq(x.get("name"), t["name"], "index name", t["key"])
        c.eq(x.get("path"), t["path"], "index path", t["key"])
c.done()
