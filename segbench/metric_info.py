"""What each metric means and which direction is better; importable without torch (reports read it)."""

HIGHER_IS_BETTER = {"miou": True, "pixel_acc": True, "mean_acc": True, "fwiou": True, "bf1": True}
SPEED_HIGHER_IS_BETTER = {"latency_ms": False, "images_per_s": True, "inference_peak_mb": False}  # what check compares
CHECKED_BY_DEFAULT = ("miou", "bf1", *SPEED_HIGHER_IS_BETTER)

DEFINITIONS: dict[str, str] = {
    "miou": "Mean over classes of TP/(TP+FP+FN) from one confusion matrix summed over the "
    "data set; classes absent from both target and prediction are excluded.",
    "pixel_acc": "Share of non-ignored pixels whose predicted class equals the target class.",
    "mean_acc": "Mean over classes present in the target of per-class recall TP/(TP+FN).",
    "fwiou": "Sum over classes of (share of target pixels of the class) x (IoU of the class).",
    "bf1": "Boundary F1 (Csurka et al. 2013): per image and target class, F1 of boundary "
    "pixels matched within 0.75% of the image diagonal; mean over classes, then images.",
}
