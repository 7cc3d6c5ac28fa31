"""Training losses: Laplacian-pyramid L1, census (feature consistency), edge-aware flow smoothness, teacher
distillation.

All functions take ``[B, C, H, W]`` float tensors and return a scalar (the batch mean); they are plain
functions of their inputs (no state, no device of their own), so they run on whatever device and dtype the
tensors live on. Reductions are done in fp32 even under autocast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# 5x5 binomial (Gaussian) kernel, the separable [1 4 6 4 1] / 16 filter.
_BINOMIAL = (1.0, 4.0, 6.0, 4.0, 1.0)


def gauss_kernel(
    channels: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Depthwise 5x5 binomial kernel ``[channels, 1, 5, 5]`` whose taps sum to 1."""
    k1 = torch.tensor(_BINOMIAL, device=device, dtype=dtype)
    k2 = torch.outer(k1, k1)
    k2 = k2 / k2.sum()
    return k2.expand(channels, 1, 5, 5).contiguous()


def _blur(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    mode = "reflect" if min(x.shape[-2:]) > 2 else "replicate"
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode=mode), kernel, groups=x.shape[1])


def _upsample(x: torch.Tensor, kernel: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Zero-insertion upsampling by 2 followed by the (gain 4) binomial blur, cropped to ``size``."""
    b, c, h, w = x.shape
    up = x.new_zeros(b, c, 2 * h, 2 * w)
    up[..., ::2, ::2] = x
    return _blur(up, kernel * 4)[..., : size[0], : size[1]]


def laplacian_pyramid(img: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Band-pass levels (fine to coarse) followed by the low-pass residual; ``levels`` band-pass levels at
    most (fewer when the image gets smaller than 4 pixels)."""
    kernel = gauss_kernel(img.shape[1], img.device, img.dtype)
    pyr = []
    cur = img
    for _ in range(levels):
        if min(cur.shape[-2:]) < 4:
            break
        down = _blur(cur, kernel)[..., ::2, ::2]
        pyr.append(cur - _upsample(down, kernel, (cur.shape[-2], cur.shape[-1])))
        cur = down
    pyr.append(cur)
    return pyr


def laplacian_l1(pred: torch.Tensor, target: torch.Tensor, levels: int = 5) -> torch.Tensor:
    """Sum over pyramid levels of the mean absolute difference (the reconstruction loss).

    The band-pass terms weight edges and texture equally at every scale; the low-pass residual keeps the
    loss sensitive to a global brightness or colour offset.
    """
    pred, target = pred.float(), target.float()
    pp, pt = laplacian_pyramid(pred, levels), laplacian_pyramid(target, levels)
    return sum((a - b).abs().mean() for a, b in zip(pp, pt, strict=True))  # type: ignore[return-value]


# Census (ternary) transform, the feature-consistency term. Each pixel is described by the signs of its
# differences to the neighbours in a patch, softened so the loss has a gradient: d / sqrt(eps + d^2). Two
# images agree when their local patterns agree, whatever their brightness: an offset in the prediction costs
# nothing (a gain next to nothing), misplaced structure (ghosting, doubled edges, texture smeared by a blend)
# costs the most. It is the photometric term of the optical-flow literature (UnFlow, ARFlow), robust where L1
# is not.
CENSUS_PATCH = 7  # pixels per side of the neighbourhood
CENSUS_EPS = 0.81  # softness of the sign, in grey levels squared (0.9 of an 8-bit grey level)
CENSUS_DIST_EPS = 0.1  # robust (Geman-McClure-like) distance between two descriptors


def _grey255(img: torch.Tensor) -> torch.Tensor:
    w = img.new_tensor((0.299, 0.587, 0.114)).view(1, 3, 1, 1)
    return (img * w).sum(1, keepdim=True) * 255 if img.shape[1] == 3 else img.mean(1, keepdim=True) * 255


def census_transform(img: torch.Tensor, patch: int = CENSUS_PATCH) -> torch.Tensor:
    """Soft census descriptor ``[B, patch*patch, H, W]`` of ``[B, C, H, W]`` images in [0, 1] (grey first)."""
    grey = _grey255(img if img.dtype == torch.float64 else img.float())
    k = torch.eye(patch * patch, device=img.device, dtype=grey.dtype).view(patch * patch, 1, patch, patch)
    diff = F.conv2d(grey, k, padding=patch // 2) - grey
    return diff / torch.sqrt(CENSUS_EPS + diff * diff)


def census_loss(pred: torch.Tensor, target: torch.Tensor, patch: int = CENSUS_PATCH) -> torch.Tensor:
    """Mean robust distance between the census descriptors of ``pred`` and ``target`` (the border of width
    patch // 2, where the patch leaves the image, is left out). 0 for equal images and for images that
    differ only by a constant offset; grows with misplaced structure."""
    a, b = census_transform(pred, patch), census_transform(target, patch)
    d = (a - b) ** 2
    dist = (d / (CENSUS_DIST_EPS + d)).mean(1, keepdim=True)
    r = patch // 2
    if dist.shape[-2] <= 2 * r or dist.shape[-1] <= 2 * r:
        return dist.mean()
    return dist[..., r:-r, r:-r].mean()


def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along x ``[B, C, H, W-1]`` and y ``[B, C, H-1, W]``."""
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def edge_aware_smoothness(flow: torch.Tensor, image: torch.Tensor, alpha: float = 10.0) -> torch.Tensor:
    """First-order smoothness of ``flow`` (pixels), down-weighted across the edges of ``image`` ([0, 1]).

    ``mean(|d flow/dx| * exp(-alpha * mean_c |d image/dx|)) + the same along y``: flat image regions should
    move as one, while motion boundaries may follow image edges.
    """
    flow, image = flow.float(), image.float()
    fx, fy = image_gradients(flow)
    ix, iy = image_gradients(image)
    wx = torch.exp(-alpha * ix.abs().mean(1, keepdim=True))
    wy = torch.exp(-alpha * iy.abs().mean(1, keepdim=True))
    return (fx.abs() * wx).mean() + (fy.abs() * wy).mean()


def distillation(
    student_flows: list[torch.Tensor],
    student_frames: list[torch.Tensor],
    teacher_flow: torch.Tensor,
    teacher_frame: torch.Tensor,
    gt: torch.Tensor,
    margin: float = 0.01,
) -> torch.Tensor:
    """RIFE's privileged distillation: every level's flow is pulled towards the teacher's flow, only where
    the teacher's frame is better than that level's frame by more than ``margin`` (mean absolute error over
    channels). The teacher itself gets no gradient from this term."""
    gt = gt.float()
    teacher_flow = teacher_flow.detach().float()
    teacher_err = (teacher_frame.detach().float() - gt).abs().mean(1, keepdim=True)
    total = gt.new_zeros(())
    for flow, frame in zip(student_flows, student_frames, strict=True):
        worse = ((frame.detach().float() - gt).abs().mean(1, keepdim=True) > teacher_err + margin).float()
        dist = ((teacher_flow - flow.float()) ** 2).mean(1, keepdim=True).add(1e-6).sqrt()
        total = total + (dist * worse).mean()
    return total


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-sample PSNR in dB of ``[B, C, H, W]`` images in [0, 1] (``pred`` is clamped first)."""
    mse = ((pred.float().clamp(0, 1) - target.float()) ** 2).flatten(1).mean(1)
    return -10 * torch.log10(mse.clamp_min(1e-10))


def ssim(pred: torch.Tensor, target: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-sample SSIM of ``[B, C, H, W]`` images in [0, 1] (Wang et al. 2004: Gaussian window 11, sigma 1.5,
    K1 0.01, K2 0.03, averaged over channels and the valid area)."""
    x, y = pred.float().clamp(0, 1), target.float()
    c = x.shape[1]
    g = torch.exp(
        -((torch.arange(window, dtype=torch.float32, device=x.device) - window // 2) ** 2) / (2 * sigma**2)
    )
    g = g / g.sum()
    k = torch.outer(g, g).expand(c, 1, window, window).contiguous()

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, k, groups=c)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    c1, c2 = 0.01**2, 0.03**2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1)
