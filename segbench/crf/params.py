"""The dense CRF's settings (one type: the suite's `eval.crf` section and the CRF's own argument) and
DeepLab's published presets."""

from pydantic import BaseModel, ConfigDict, Field


class CRFParams(BaseModel):
    """Mean-field iterations and the two Potts-kernel weights and widths of DeepLab's dense CRF.

    Energy (DeepLab v2, eq. 3): pos_w * exp(-|p_i - p_j|^2 / 2 pos_xy_std^2)  [smoothness]
                              + bi_w  * exp(-|p_i - p_j|^2 / 2 bi_xy_std^2 - |I_i - I_j|^2 / 2 bi_rgb_std^2)
    [appearance], positions in pixels, colours in 0-255 RGB. The defaults are DeepLab v2 ResNet-101's
    (VOC 2012); DeepLab v1 LargeFOV used pos_xy_std 3, bi_xy_std 121, bi_rgb_std 5 (`DEEPLAB_V1_LARGEFOV`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)
    iterations: int = Field(10, ge=0, le=100, description="mean-field iterations")
    pos_w: float = Field(3.0, ge=0, description="smoothness kernel weight")
    pos_xy_std: float = Field(1.0, gt=0, description="smoothness kernel width (px)")
    bi_w: float = Field(4.0, ge=0, description="appearance kernel weight")
    bi_xy_std: float = Field(67.0, gt=0, description="appearance kernel width (px)")
    bi_rgb_std: float = Field(3.0, gt=0, description="appearance colour width (0-255)")


# DeepLab's published CRF settings for PASCAL VOC 2012 (cross-validated on 100 val images).
#
# v2, ResNet-101 + ASPP: Chen et al., "DeepLab: Semantic Image Segmentation with Deep Convolutional
# Nets, Atrous Convolution, and Fully Connected CRFs", TPAMI 2017 (arXiv:1606.00915), as released
# with the DeepLab-v2 ResNet-101 VOC12 model (test prototxt, dense_crf_param: max_iter 10, pos_w 3,
# pos_xy_std 1, bi_w 4, bi_xy_std 67, bi_rgb_std 3); e.g. kazuto1011/deeplab-pytorch configs/voc12.yaml
# carries the same values. Note: the paper's text gives w2 = 3, sigma_gamma = 3 as the smoothness
# kernel's default; the released ResNet-101 configuration uses pos_xy_std = 1.
DEEPLAB_V2_RESNET101 = CRFParams(iterations=10, pos_w=3, pos_xy_std=1, bi_w=4, bi_xy_std=67, bi_rgb_std=3)
#
# v1, VGG-16 "DeepLab-CRF-LargeFOV": Chen et al., "Semantic Image Segmentation with Deep
# Convolutional Nets and Fully Connected CRFs", ICLR 2015 (arXiv:1412.7062): smoothness kernel at
# the paper's defaults w2 = 3, sigma_gamma = 3; appearance kernel w1 = 4, sigma_alpha = 121,
# sigma_beta = 5 as listed for the released DeepLab-LargeFOV model; 10 mean-field iterations.
DEEPLAB_V1_LARGEFOV = CRFParams(iterations=10, pos_w=3, pos_xy_std=3, bi_w=4, bi_xy_std=121, bi_rgb_std=5)

PRESETS: dict[str, CRFParams] = {
    "deeplab-v2-resnet101": DEEPLAB_V2_RESNET101,
    "deeplab-v1-largefov": DEEPLAB_V1_LARGEFOV,
}
