"""Networks of the amortized posterior: masked set transformers and a conditional flow."""

from tabmixr.engines.amortized.networks.attention import ISAB, MAB, PMA, SetEncoder
from tabmixr.engines.amortized.networks.flow import ConditionalFlow, FlowDistribution
from tabmixr.engines.amortized.networks.model import AmortizedModel, ModelConfig

__all__ = ["ISAB", "MAB", "PMA", "SetEncoder", "ConditionalFlow", "FlowDistribution",
           "AmortizedModel", "ModelConfig"]
