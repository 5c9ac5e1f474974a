"""Building blocks of the bundled shapes model in torch: the tiny text encoder and the UNet config.

Kept free of training code so the pipeline (inference) and the training script share one
definition: the state-dict keys of `ShapesTextEncoder` and the vocabulary ids are part of the
committed weights' format, so change them only together with a retrain.
"""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

# The vocabulary and tokenizer live in spec.py (no torch), so the onnxruntime path shares them; they are
# re-exported here for the training code.
from .spec import (  # noqa: F401
    ALIASES,
    BOS_ID,
    BOS_TOKEN,
    COLOURS,
    MAX_LENGTH,
    PAD_ID,
    PAD_TOKEN,
    POSITIONS,
    SHAPES,
    SIZES,
    UNK_ID,
    UNK_TOKEN,
    VOCAB,
    encode,
    words,
)


def encode_batch(texts: list[str], max_length: int = MAX_LENGTH) -> torch.Tensor:
    return torch.tensor([encode(t, max_length) for t in texts], dtype=torch.long)


class ShapesTextEncoder(ModelMixin, ConfigMixin):
    """A 2-layer transformer over word ids, trained jointly with the UNet.

    Position embeddings start at the token embeddings' scale (std 1): initialised small
    (0.02, the usual choice) they are drowned by the tokens and the encoder degrades into a
    bag of words that cannot tell "red on white" from "white on red".
    """

    @register_to_config
    def __init__(
        self,
        vocab_size: int = len(VOCAB),
        max_length: int = MAX_LENGTH,
        width: int = 64,
        layers: int = 2,
        heads: int = 4,
        ff_mult: int = 2,
        pad_id: int = PAD_ID,
    ):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.position_embedding = nn.Parameter(torch.randn(max_length, width))
        nn.init.normal_(self.token_embedding.weight, std=1.0)
        layer = nn.TransformerEncoderLayer(
            d_model=width,
            nhead=heads,
            dim_feedforward=width * ff_mult,
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)
        self.final_norm = nn.LayerNorm(width)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Returns per-token states [batch, length, width] (used as UNet cross-attention input)."""
        length = input_ids.shape[1]
        h = self.token_embedding(input_ids) + self.position_embedding[:length].to(self.token_embedding.weight.dtype)
        pad_mask = input_ids == self.config.pad_id
        h = self.encoder(h, src_key_padding_mask=pad_mask)
        return self.final_norm(h)


def unet_config(sample_size: int = 32, text_width: int = 64) -> dict:
    """UNet2DConditionModel config: cross-attention only at 8x8 and in the middle block.

    Attention at 16x16 made steps 2.3x slower for no visible gain on these images.
    `addition_embed_type="text"` adds a pooled text vector to the timestep embedding, which
    gives the convolutional (attention-free) blocks the colours directly.
    """
    return dict(
        sample_size=sample_size,
        in_channels=3,
        out_channels=3,
        block_out_channels=(32, 64, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        mid_block_type="UNetMidBlock2DCrossAttn",
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        cross_attention_dim=text_width,
        attention_head_dim=8,
        norm_num_groups=8,
        addition_embed_type="text",
        addition_embed_type_num_heads=4,
    )
