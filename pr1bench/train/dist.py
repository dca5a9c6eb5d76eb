"""Ranks inside the training subprocess: who writes the run, the process group's timeout, barriers.

`accelerate launch` with more than one process (or machine) starts the training through torchrun, which sets
``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/``LOCAL_WORLD_SIZE``/``GROUP_RANK`` in every worker. Everything here reads
those, so it works before any trainer (and its accelerate state) exists, and is a no-op in a single process.

Rank discipline (see README "Multi-GPU and multi-node"):
- global rank 0 ("main") alone writes run.json, metrics.jsonl, eval.json and samples.parquet of the run;
- the local rank 0 of another machine writes only that machine's worker record (``role: worker``);
- every rank trains; the final evaluation runs once, on the main rank, after the others have finished.
"""

from __future__ import annotations

import datetime as _dt
import os
from typing import Any

# Bound on any collective wait (a dead peer on another machine, a rank stuck in an evaluation): past it the
# waiting ranks raise instead of hanging. Overridden per run with launch.dist_timeout_s.
DEFAULT_TIMEOUT_S = 600


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def world_size() -> int:
    return _env_int("WORLD_SIZE", 1)


def rank() -> int:
    return _env_int("RANK", 0)


def local_rank() -> int:
    return _env_int("LOCAL_RANK", 0)


def local_world_size() -> int:
    return _env_int("LOCAL_WORLD_SIZE", world_size())


def machine_rank() -> int:
    """The node rank torchrun gave this worker (``GROUP_RANK``); 0 on a single machine."""
    return _env_int("GROUP_RANK", 0)


def num_machines() -> int:
    return max(1, world_size() // max(1, local_world_size()))


def is_main() -> bool:
    """Global rank 0: the one process that writes the run."""
    return rank() == 0


def is_local_main() -> bool:
    return local_rank() == 0


def is_distributed() -> bool:
    return world_size() > 1


def backend_for_device() -> str:
    import torch

    return "nccl" if torch.cuda.is_available() else "gloo"


def init(timeout_s: float | None = None) -> None:
    """Create the process group with our timeout before transformers/accelerate would (CPU only).

    On CPU, TrainingArguments(use_cpu=True) builds accelerate's state without a timeout, i.e. torch's 30-minute
    default; initialising gloo here first makes accelerate reuse this group. On GPUs accelerate initialises NCCL
    itself with the trainer's ``ddp_timeout`` (which the entry sets to the same value).
    """
    if not is_distributed():
        return
    import torch
    import torch.distributed as tdist

    if tdist.is_initialized() or torch.cuda.is_available():
        return
    tdist.init_process_group(backend="gloo", timeout=_dt.timedelta(seconds=float(timeout_s or DEFAULT_TIMEOUT_S)))


def barrier() -> None:
    if not is_distributed():
        return
    import torch.distributed as tdist

    if tdist.is_initialized():
        tdist.barrier()


def broadcast(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (a picklable object)."""
    if not is_distributed():
        return obj
    import torch.distributed as tdist

    if not tdist.is_initialized():
        return obj
    box = [obj]
    tdist.broadcast_object_list(box, src=0)
    return box[0]


def shutdown() -> None:
    if not is_distributed():
        return
    import torch.distributed as tdist

    if tdist.is_initialized():
        tdist.destroy_process_group()


def accelerate_type() -> str | None:
    """accelerate's DistributedType of this process (e.g. MULTI_CPU, FSDP), or None before any trainer exists."""
    try:
        from accelerate.state import AcceleratorState

        if not AcceleratorState._shared_state:
            return None
        return str(AcceleratorState().distributed_type).rsplit(".", 1)[-1]
    except Exception:  # provenance only
        return None


def check_supported() -> None:
    """Refuse what would silently run as something else on this machine.

    accelerate 1.15 turns an FSDP or DeepSpeed config into FSDP/DeepSpeed only for accelerator devices: on CPU
    (MULTI_CPU) the FSDP plugin is built and then ignored, so the training would be plain data parallel while
    its config says FSDP (and the shipped fsdp.yaml fails outright: sync_module_states needs a device).
    """
    import torch

    if torch.cuda.is_available():
        return
    for env, name in (("ACCELERATE_USE_FSDP", "FSDP"), ("ACCELERATE_USE_DEEPSPEED", "DeepSpeed")):
        if os.environ.get(env, "false").lower() == "true":
            raise RuntimeError(f"{name} needs GPUs: without CUDA, accelerate runs an {name} config as plain data "
                               "parallel (or fails). On CPU use --accelerate cpu launch.num_processes=N (gloo)")


def describe() -> dict[str, Any]:
    """What run.json records about the process layout of this training."""
    import torch

    dist = is_distributed()
    backend = None
    if dist:
        import torch.distributed as tdist

        backend = str(tdist.get_backend()) if tdist.is_initialized() else backend_for_device()
    dtype = accelerate_type()  # what accelerate really set up, once a trainer has built its state
    if dtype is None:
        dtype = "NO" if not dist else ("MULTI_GPU" if torch.cuda.is_available() else "MULTI_CPU")
    return {"world_size": world_size(), "num_machines": num_machines(), "processes_per_machine": local_world_size(),
            "distributed_type": dtype, "backend": backend,
            "device": "cuda" if torch.cuda.is_available() else "cpu"}


def write_weights(model: Any, out_dir: Any) -> None:
    """Config, generation config and safetensors weights of ``model`` into ``out_dir`` (loadable by from_pretrained).

    transformers 5.24's ``save_pretrained`` writes weights only on global rank 0, even with ``save_on_each_node``;
    on another machine (its own results dir) the phase model and checkpoints would lack their weights.
    """
    from pathlib import Path

    from safetensors.torch import save_model

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(str(out))
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(str(out))
    save_model(model, str(out / "model.safetensors"))


def needs_own_copy() -> bool:
    """The local rank 0 of a machine other than machine 0: it keeps its own copy of models and checkpoints."""
    return is_distributed() and machine_rank() > 0 and is_local_main()


def agree_on_stop(control: Any) -> None:
    """Every rank stops at the same step if any rank's callbacks decided to stop (one 1-int all-reduce, MAX).

    Without it a stop decided on one rank only (an early-stopping or pruning callback that looks at rank 0's
    intermediate evaluation) would leave the other ranks waiting in the next step's collectives until the timeout.
    """
    if not is_distributed():
        return
    import torch
    import torch.distributed as tdist

    if not tdist.is_initialized():
        return
    device = "cuda" if torch.cuda.is_available() and backend_for_device() == "nccl" else "cpu"
    flag = torch.tensor([1 if control.should_training_stop else 0], dtype=torch.int32, device=device)
    tdist.all_reduce(flag, op=tdist.ReduceOp.MAX)
    control.should_training_stop = bool(flag.item())


def trainer_callbacks() -> list[Any]:
    """Callbacks every trainer of a run gets for the process layout (none in a single process).

    They must come last in the trainer's callback list: the stop agreement sees the other callbacks' decisions.
    """
    if not is_distributed():
        return []
    from transformers import TrainerCallback

    class _AgreeOnStop(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            agree_on_stop(control)

    class _NodeLocalWeights(TrainerCallback):
        """Puts the weights into this machine's own checkpoint dirs, so ``--resume`` works here too."""

        def on_save(self, args: Any, state: Any, control: Any, model: Any = None, **kw: Any) -> None:
            from pathlib import Path

            if model is not None:
                write_weights(model, Path(args.output_dir) / f"checkpoint-{state.global_step}")

    return [*([_NodeLocalWeights()] if needs_own_copy() else []), _AgreeOnStop()]
