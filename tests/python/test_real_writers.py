#!/usr/bin/env python3
"""test_real_writers.py - checkpoints written by transformers and diffusers, read through tensorfs.

Tiny randomly initialised models built from configs (no hub access, HF_HUB_OFFLINE=1):
 - a Llama causal LM saved with transformers' save_pretrained(max_shard_size=...) - sharded, with
   transformers' own model.safetensors.index.json;
 - a diffusers DDPMPipeline folder (model_index.json, unet/, scheduler/) and a sharded
   AutoencoderKL, both written by diffusers' save_pretrained.
Each is loaded through tensorfs.load_file / safe_open and must give the model's state dict exactly
(load_state_dict(strict=True) included), and is mounted with build/tensorfs so that transformers'
and diffusers' from_pretrained(MOUNT), and safetensors.safe_open on the shard files seen through
the mount, give the same tensors. Mount tests are skipped when FUSE is unavailable.
"""
import os
import shutil
import sys
import tempfile
import unittest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))
import tensorfs  # noqa: E402
from mounting import TENSORFS, Mount, fuse_usable  # noqa: E402

try:
    import torch
    import safetensors
    import safetensors.torch
    import transformers
    import diffusers
except ImportError:
    transformers = diffusers = None

def bits(t):
    t = t.detach().cpu().contiguous().reshape(-1)
    return t.view(torch.uint8).numpy().tobytes() if t.numel() else b""


@unittest.skipIf(transformers is None, "transformers/diffusers not installed (run tests/python/run.sh)")
class RealWritersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="tfs-writers-")
        torch.manual_seed(0)
        cfg = transformers.LlamaConfig(
            vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
            tie_word_embeddings=False)
        cls.llama_cfg = cfg
        cls.llama = transformers.LlamaForCausalLM(cfg).eval()
        cls.llama_dir = os.path.join(cls.dir, "llama")
        cls.llama.save_pretrained(cls.llama_dir, max_shard_size="20KB")

        unet = diffusers.UNet2DModel(
            sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 16),
            layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4)
        cls.unet = unet.eval()
        cls.ddpm_dir = os.path.join(cls.dir, "ddpm")
        diffusers.DDPMPipeline(unet=unet, scheduler=diffusers.DDPMScheduler(
            num_train_timesteps=10)).save_pretrained(cls.ddpm_dir)

        cls.vae = diffusers.AutoencoderKL(
            in_channels=3, out_channels=3, block_out_channels=(8,),
            down_block_types=("DownEncoderBlock2D",), up_block_types=("UpDecoderBlock2D",),
            latent_channels=2, norm_num_groups=4, sample_size=8).eval()
        cls.vae_dir = os.path.join(cls.dir, "vae")
        cls.vae.save_pretrained(cls.vae_dir, max_shard_size="10KB")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def assertStateDictEqual(self, got, want, prefix=""):
        want = {prefix + k: v for k, v in want.items()}
        self.assertEqual(sorted(got), sorted(want))
        for k, v in want.items():
            self.assertEqual(got[k].dtype, v.dtype, k)
            self.assertEqual(tuple(got[k].shape), tuple(v.shape), k)
            self.assertEqual(bits(got[k]), bits(v), k)

    def shards(self, folder):
        return sorted(f for f in os.listdir(folder) if f.endswith(".safetensors"))

    # ---- transformers ---------------------------------------------------------------------------
    def test_transformers_sharded_load_file(self):
        self.assertGreater(len(self.shards(self.llama_dir)), 2)
        self.assertTrue(os.path.exists(os.path.join(self.llama_dir, "model.safetensors.index.json")))
        got = tensorfs.load_file(self.llama_dir)
        self.assertStateDictEqual(got, self.llama.state_dict())
        # and what safetensors itself reads from the shards
        ref = {}
        for f in self.shards(self.llama_dir):
            ref.update(safetensors.torch.load_file(os.path.join(self.llama_dir, f)))
        self.assertStateDictEqual(got, ref)
        fresh = transformers.LlamaForCausalLM(self.llama_cfg).eval()
        fresh.load_state_dict(got, strict=True)
        ids = torch.randint(0, 128, (2, 7))
        with torch.no_grad():
            self.assertTrue(torch.equal(fresh(ids).logits, self.llama(ids).logits))

    def test_transformers_sharded_safe_open(self):
        with tensorfs.safe_open(self.llama_dir, framework="pt", device="cpu") as f:
            self.assertEqual(f.layout, "sharded")
            self.assertEqual(f.metadata().get("format"), "pt")
            sd = {k: f.get_tensor(k) for k in f.keys()}
            emb = f.get_slice("model.embed_tokens.weight")
            self.assertEqual(emb.get_shape(), [128, 32])
            self.assertEqual(emb.get_dtype(), "F32")
            w = self.llama.state_dict()["model.embed_tokens.weight"]
            self.assertTrue(torch.equal(emb[10:20], w[10:20]))
            self.assertTrue(torch.equal(emb[:, 4:9], w[:, 4:9]))
        self.assertStateDictEqual(sd, self.llama.state_dict())
        fresh = transformers.LlamaForCausalLM(self.llama_cfg)
        fresh.load_state_dict(sd, strict=True)

    @unittest.skipUnless(fuse_usable(), "FUSE or build/tensorfs unavailable")
    def test_transformers_from_pretrained_on_mount(self):
        with Mount(self.llama_dir, os.path.join(self.dir, "mnt-llama")) as mnt:
            for f in self.shards(self.llama_dir):
                with open(os.path.join(mnt, f), "rb") as a, \
                        open(os.path.join(self.llama_dir, f), "rb") as b:
                    self.assertEqual(a.read(), b.read(), f)
                # safetensors itself, on the shard file seen through the mount
                src, via = os.path.join(self.llama_dir, f), os.path.join(mnt, f)
                with safetensors.safe_open(via, "pt") as a, safetensors.safe_open(src, "pt") as b:
                    self.assertEqual(a.keys(), b.keys())
                    self.assertEqual(a.metadata(), b.metadata())
                    for k in b.keys():
                        self.assertEqual(bits(a.get_tensor(k)), bits(b.get_tensor(k)), k)
                        s = a.get_slice(k)
                        if len(s.get_shape()) == 2:
                            self.assertEqual(bits(s[:, 1:3]), bits(b.get_slice(k)[:, 1:3]), k)
            model = transformers.LlamaForCausalLM.from_pretrained(mnt, local_files_only=True)
            self.assertStateDictEqual(model.state_dict(), self.llama.state_dict())
            self.assertStateDictEqual(tensorfs.load_file(mnt), self.llama.state_dict())
            del model, a, b, s

    # ---- diffusers ------------------------------------------------------------------------------
    def test_diffusers_pipeline_folder(self):
        got = tensorfs.load_file(self.ddpm_dir)
        self.assertStateDictEqual(got, self.unet.state_dict(), prefix="unet/")
        with tensorfs.safe_open(self.ddpm_dir, "pt") as f:
            self.assertEqual(f.layout, "diffusers")
            self.assertTrue(all(k.startswith("unet/") for k in f.keys()))
            k = "unet/conv_in.weight"
            self.assertTrue(torch.equal(f.get_tensor(k), self.unet.state_dict()["conv_in.weight"]))
            self.assertTrue(torch.equal(f.get_slice(k)[2:5],
                                        self.unet.state_dict()["conv_in.weight"][2:5]))
        fresh = diffusers.UNet2DModel.from_config(self.unet.config)
        fresh.load_state_dict({k[len("unet/"):]: v for k, v in got.items()}, strict=True)

    def test_diffusers_sharded_model(self):
        self.assertGreater(len(self.shards(self.vae_dir)), 2)
        got = tensorfs.load_file(self.vae_dir)
        self.assertStateDictEqual(got, self.vae.state_dict())
        fresh = diffusers.AutoencoderKL.from_config(self.vae.config)
        fresh.load_state_dict(got, strict=True)

    @unittest.skipUnless(fuse_usable(), "FUSE or build/tensorfs unavailable")
    def test_diffusers_from_pretrained_on_mount(self):
        with Mount(self.ddpm_dir, os.path.join(self.dir, "mnt-ddpm")) as mnt:
            pipe = diffusers.DDPMPipeline.from_pretrained(mnt, local_files_only=True)
            self.assertStateDictEqual(pipe.unet.state_dict(), self.unet.state_dict())
            via = os.path.join(mnt, "unet", "diffusion_pytorch_model.safetensors")
            self.assertStateDictEqual(safetensors.torch.load_file(via), self.unet.state_dict())
            del pipe
        with Mount(self.vae_dir, os.path.join(self.dir, "mnt-vae")) as mnt:
            vae = diffusers.AutoencoderKL.from_pretrained(mnt, local_files_only=True)
            self.assertStateDictEqual(vae.state_dict(), self.vae.state_dict())
            del vae


if __name__ == "__main__":
    unittest.main()
