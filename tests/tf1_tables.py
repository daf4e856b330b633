"""The TF1 implementation's network tables (REFERENCE.md), written out once for the tests.

G maps list the input channels first and the 3 output channels last; D conv maps list the
3 input channels of its frame-only discriminator first; D fully connected sizes end with the
single output.
"""

G_MAPS = [
    [12, 128, 256, 128, 3],
    [15, 128, 256, 128, 3],
    [15, 128, 256, 512, 256, 128, 3],
    [15, 128, 256, 512, 256, 128, 3],
]
G_KERNELS = [[3, 3, 3, 3], [5, 3, 3, 5], [5, 3, 3, 3, 3, 5], [7, 5, 5, 5, 5, 7]]
D_MAPS = [[3, 64], [3, 64, 128, 128], [3, 128, 256, 256], [3, 128, 256, 512, 128]]
D_KERNELS = [[3], [3, 3, 3], [5, 5, 5], [7, 7, 5, 5]]
D_FC = [[512, 256, 1], [1024, 512, 1], [1024, 512, 1], [1024, 512, 1]]
