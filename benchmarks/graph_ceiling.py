"""How fast the vanilla step can go on a GPU when it is replayed as one CUDA graph, against the same
step launched op by op (benchmark b's minimal loop). On a machine where kernel launches cost more
than the maths (small networks; a sandboxed driver), this ratio is the most a whole-step graph
path in the loop could gain. CUDA only.

    python graph_ceiling.py DATA_ROOT [STEPS]

The captured step follows PyTorch's whole-network capture recipe: warm-up on a side stream,
gradients set to None before capture so backward allocates them in the graph's pool, and Adam
with capturable=True so its step counter stays on the device. Outside the graph each step does
one gather of a uint8 batch into a static buffer; normalisation, noise, both updates and the
loss sums happen inside it.
"""
import sys
import time

import torch

from minimal_loop import BATCH, batches, build, load_images, step

if not torch.cuda.is_available():
    sys.exit("graph_ceiling.py needs a CUDA device")
root = sys.argv[1]
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
device = torch.device("cuda")
images = load_images(root, device)


def time_it(run_one) -> float:
    torch.cuda.synchronize()
    start = time.perf_counter()
    for idx in batches(images, steps):
        run_one(idx)
    torch.cuda.synchronize()
    return steps * BATCH / (time.perf_counter() - start)


# op by op
G, D, opt_G, opt_D = build(device)  # fused Adam, as benchmark b
eager_sums = torch.zeros(2, device=device)
eager = time_it(lambda idx: step(G, D, opt_G, opt_D, images[idx], eager_sums))

# one graph per step
G, D, opt_G, opt_D = build(device, capturable=True)  # its step count stays on the device
static_batch = torch.empty(BATCH, 1, 28, 28, dtype=torch.uint8, device=device)
graph_sums = torch.zeros(2, device=device)
static_batch.copy_(images[:BATCH])
side = torch.cuda.Stream()
side.wait_stream(torch.cuda.current_stream())
with torch.cuda.stream(side):  # warm-up outside capture (allocator, cuBLAS workspaces, Adam state)
    for _ in range(3):
        step(G, D, opt_G, opt_D, static_batch, graph_sums)
torch.cuda.current_stream().wait_stream(side)
graph_sums.zero_()
opt_D.zero_grad(set_to_none=True)
opt_G.zero_grad(set_to_none=True)
graph = torch.cuda.CUDAGraph()
with torch.cuda.graph(graph):
    step(G, D, opt_G, opt_D, static_batch, graph_sums, set_to_none=False)


def replay(idx):
    static_batch.copy_(images[idx])
    graph.replay()


graphed = time_it(replay)
eager_d, eager_g = (eager_sums / steps).tolist()
graph_d, graph_g = (graph_sums / steps).tolist()
print(f"eager: {eager:,.0f} img/s, mean D loss {eager_d:.3f}, G loss {eager_g:.3f}")
print(f"graph: {graphed:,.0f} img/s, mean D loss {graph_d:.3f}, G loss {graph_g:.3f}")
print(f"graph_ceiling steps={steps} ratio={graphed / eager:.2f}x images_per_s={graphed:.0f}")
