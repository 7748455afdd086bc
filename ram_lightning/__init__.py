"""ram-lightning: the Recurrent Attention Model (Mnih et al. 2014) in PyTorch Lightning."""

from ram_lightning.model import RAMOutput, RecurrentAttention
from ram_lightning.retina import Retina
from ram_lightning.system import RAMSystem

__all__ = ["RAMOutput", "RAMSystem", "RecurrentAttention", "Retina"]
__version__ = "0.1.0"
