"""Worker scripts the distributed tests run under torchrun (gloo, CPU): ``dist_workers.py MODE OUT``.

grads-sync / grads-plain: one forward and backward of resnet20 in float64 on each rank's half of a batch, its
    batch norms gathered over the ranks (sync) or not (plain); rank 0 saves the averaged gradients, late. Each
    rank writes when it reached Dist.close(together=True) and when that returned (OUT.closeRANK.json).
evaluate RUN FOLDER: RUN's model evaluated on synthetic data, each rank on its shard; rank 0 saves the summed
    result. Then on FOLDER's images streamed, whose last image (in rank 1's shard) is unreadable: each rank
    writes what it was told (OUT.badRANK.json).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import torch  # noqa: E402

from core.hardware.dist import Dist  # noqa: E402


def model(double: bool = False):
    from core.models import create_model

    torch.manual_seed(0)
    m = create_model("resnet20", 10, image_size=16)
    return m.double() if double else m


def grads(sync: bool, out: Path) -> None:
    from torch.nn.parallel import DistributedDataParallel

    from core.models.sync_bn import convert_sync_bn

    dist = Dist.from_env("cpu")
    torch.manual_seed(1)
    x, y = torch.randn(64, 3, 16, 16, dtype=torch.float64), torch.randint(0, 10, (64,))
    m = model(double=True)
    if sync:
        m = convert_sync_bn(m, torch.device("cpu"))
    ddp = DistributedDataParallel(m)
    xs, ys = x.tensor_split(dist.world)[dist.rank], y.tensor_split(dist.world)[dist.rank]
    torch.nn.functional.cross_entropy(ddp(xs), ys).backward()  # DDP averages the gradients over the ranks
    if dist.main:
        torch.save({k: p.grad for k, p in m.named_parameters()}, out)
        time.sleep(0.5)  # rank 0 comes to the end late (as when it saves a run's final files)
    reached = time.time()
    dist.close(together=True)
    when = {"reached": reached, "closed": time.time()}
    out.with_name(f"{out.stem}.close{dist.rank}.json").write_text(json.dumps(when))


def evaluate(out: Path, run: Path, folder: Path) -> None:
    from core.data import Normalize
    from core.data.synthetic import make_synthetic
    from core.inference.evaluate import evaluate as run_eval
    from core.inference.trained import load_trained

    dist = Dist.from_env("cpu")
    _, test, classes = make_synthetic(64, 333, image_size=16)  # 333: the shards are not equal
    trained = load_trained(run, "cpu")
    r = run_eval(trained.model, test, Normalize(trained.mean, trained.std, torch.device("cpu")), 10, 50, dist=dist, keep=True)
    p = r.predictions
    if dist.main:
        out.write_text(json.dumps({"confusion": r.confusion, "loss": r.loss, "count": r.count, "true": p.true.tolist(),
                                   "top_class": p.top_class.tolist(), "top_prob": p.top_prob.tolist()}))
    from core.data.files import FileSet
    from core.errors import BadImage

    files = FileSet.of([(p, i % 10) for i, p in enumerate(sorted(folder.iterdir()))], 16)
    try:
        run_eval(trained.model, files, Normalize(trained.mean, trained.std, torch.device("cpu")), 10, 4, dist=dist)
        told = "nothing"
    except BadImage as e:
        told = str(e)
    out.with_name(f"{out.stem}.bad{dist.rank}.json").write_text(json.dumps(told))
    dist.close(together=True)


if __name__ == "__main__":
    mode, target = sys.argv[1], Path(sys.argv[2])
    torch.set_num_threads(1)
    if mode.startswith("grads"):
        grads(mode == "grads-sync", target)
    else:
        evaluate(target, Path(sys.argv[3]), Path(sys.argv[4]))
