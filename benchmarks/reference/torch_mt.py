"""An independent PyTorch / Hugging Face MT-BlueBERT, the benchmarks' reference.

It does the work of bluebert_mtl's training step and raw-text serving with the
Hugging Face `BertModel` (the same MiniLM weights, read from the package's
safetensors) and plain PyTorch, written from the paper's recipe, not from the
TensorFlow code:

  model     BertModel (post-LN BERT, erf GELU, tanh pooler), one head per task:
            dropout 0.1 + Linear on the pooled output (classification,
            regression: one score, multi-label) or on every token (NER)
  losses    mean over the batch's real rows (rows of weight 0 are padding):
            MSE, softmax CE, sigmoid CE (averaged over rows x labels), token
            CE over the labelled positions (label -1 is left out)
  optimizer torch Adamax (betas 0.9/0.999, eps 1e-6) with decoupled weight
            decay (not on biases and LayerNorm), global gradient-norm clip,
            linear warm-up then linear decay of the learning rate; heads not
            in a step get no gradient and are not updated

Dims: B batch, T sequence, H hidden, C outputs of a head.
"""

import math
from typing import Dict, Sequence

import torch
from torch import nn
from torch.nn import functional as F
import transformers

# Variables whose name holds one of these are not weight-decayed.
NO_DECAY = ("LayerNorm", "bias")


class Head(nn.Module):
  """Dropout + Linear on the pooled output ([B, H] -> [B, C]) or on every
  token ([B, T, H] -> [B, T, C])."""

  def __init__(self, hidden: int, outputs: int, on_tokens: bool,
               dropout: float = 0.1):
    super().__init__()
    self.on_tokens = on_tokens
    self.dropout = nn.Dropout(dropout)
    self.linear = nn.Linear(hidden, outputs)

  def forward(self, encoded) -> torch.Tensor:
    x = encoded.last_hidden_state if self.on_tokens else encoded.pooler_output
    return self.linear(self.dropout(x))


class MultiTaskBert(nn.Module):
  """A shared BertModel and one head per task.

  Args:
    model_dir: Hugging Face folder (config.json, model.safetensors).
    tasks: [{"name", "kind", "outputs"}]; kind is regression, classification,
      multilabel or tagging.
  """

  def __init__(self, model_dir: str, tasks: Sequence[dict]):
    super().__init__()
    self.bert = transformers.BertModel.from_pretrained(model_dir)
    hidden = self.bert.config.hidden_size
    self.kinds = {t["name"]: t["kind"] for t in tasks}
    self.heads = nn.ModuleDict({
        t["name"]: Head(hidden, t["outputs"], t["kind"] == "tagging")
        for t in tasks})

  def forward(self, task: str, input_word_ids, input_mask, input_type_ids):
    encoded = self.bert(input_ids=input_word_ids, attention_mask=input_mask,
                        token_type_ids=input_type_ids)
    out = self.heads[task](encoded)
    return out.squeeze(-1) if self.kinds[task] == "regression" else out


def task_loss(kind: str, outputs, labels, weights) -> torch.Tensor:
  """The mean loss over the real rows (weights: 1 real, 0 padding) [B]."""
  rows = weights.sum().clamp(min=1.0)
  if kind == "regression":
    return ((outputs - labels) ** 2 * weights).sum() / rows
  if kind == "classification":
    ce = F.cross_entropy(outputs, labels.long(), reduction="none")
    return (ce * weights).sum() / rows
  if kind == "multilabel":
    ce = F.binary_cross_entropy_with_logits(outputs, labels, reduction="none")
    return (ce * weights[:, None]).sum() / (rows * labels.shape[-1])
  mask = (labels != -1).float() * weights[:, None]  # tagging, [B, T]
  ce = F.cross_entropy(outputs.flatten(0, 1), labels.clamp(min=0).long()
                       .flatten(), reduction="none").view_as(mask)
  return (ce * mask).sum() / mask.sum().clamp(min=1.0)


def warmup_linear(peak: float, warmup_steps: float, total_steps: int):
  """lr(t): linear from 0 to peak over warm-up, then linear to 0 at the end."""
  def factor(step: int) -> float:
    if step < warmup_steps:
      return step / max(warmup_steps, 1.0)
    return max(0.0, (total_steps - step) / max(total_steps - warmup_steps, 1.0))
  return factor


class Trainer:
  """One optimizer step per batch of one task (MT-DNN Algorithm 1).

  Args:
    model: a `MultiTaskBert`.
    learning_rate: peak learning rate.
    warmup_steps, total_steps: of the schedule.
    weight_decay: decoupled decay rate.
    clip_norm: global gradient-norm clip.
  """

  def __init__(self, model: MultiTaskBert, learning_rate: float,
               warmup_steps: float, total_steps: int,
               weight_decay: float = 0.01, clip_norm: float = 1.0):
    self.model = model.train()
    self.params = [p for p in model.parameters() if p.requires_grad]
    self.decayed = [p for n, p in model.named_parameters()
                    if p.requires_grad and not any(k in n for k in NO_DECAY)]
    self.optimizer = torch.optim.Adamax(self.params, lr=learning_rate,
                                        betas=(0.9, 0.999), eps=1e-6)
    self.schedule = torch.optim.lr_scheduler.LambdaLR(
        self.optimizer, warmup_linear(1.0, warmup_steps, total_steps))
    self.weight_decay = weight_decay
    self.clip_norm = clip_norm

  def step(self, task: str, batch: Dict[str, torch.Tensor]) -> float:
    """Forward, backward, clip, decay, update; returns the loss."""
    self.optimizer.zero_grad(set_to_none=True)
    outputs = self.model(task, batch["input_word_ids"], batch["input_mask"],
                         batch["input_type_ids"])
    loss = task_loss(self.model.kinds[task], outputs, batch["label"],
                     batch["example_weight"])
    loss.backward()
    used = [p for p in self.params if p.grad is not None]
    torch.nn.utils.clip_grad_norm_(used, self.clip_norm)
    lr = self.optimizer.param_groups[0]["lr"]
    with torch.no_grad():
      decayed = [p for p in self.decayed if p.grad is not None]
      if decayed and self.weight_decay:
        torch._foreach_mul_(decayed, 1.0 - lr * self.weight_decay)  # pylint: disable=protected-access
    self.optimizer.step()
    self.schedule.step()
    value = loss.detach().item()
    if not math.isfinite(value):
      raise FloatingPointError(f"loss of {task} is {value}")
    return value


class TextClassifier:
  """Raw text -> label and probabilities with one pooled head, eager.

  Args:
    model_dir: Hugging Face folder of the encoder.
    head_kernel, head_bias: the head's Linear as [H, C] and [C] arrays.
    labels: the C label names.
    tokenizer: a transformers BERT tokenizer of the same vocab.txt.
    max_seq_length: truncation length.
  """

  def __init__(self, model_dir: str, head_kernel, head_bias, labels,
               tokenizer, max_seq_length: int = 128):
    self.bert = transformers.BertModel.from_pretrained(model_dir).eval()
    self.head = nn.Linear(head_kernel.shape[0], head_kernel.shape[1])
    with torch.no_grad():
      self.head.weight.copy_(torch.as_tensor(head_kernel).T)
      self.head.bias.copy_(torch.as_tensor(head_bias))
    self.labels = list(labels)
    self.tokenizer = tokenizer
    self.max_seq_length = max_seq_length

  @torch.inference_mode()
  def __call__(self, texts: Sequence[str]):
    """(labels [B], probabilities [B, C] as a tensor)."""
    inputs = self.tokenizer(list(texts), padding=True, truncation=True,
                            max_length=self.max_seq_length,
                            return_tensors="pt")
    encoded = self.bert(**inputs)
    probabilities = torch.softmax(self.head(encoded.pooler_output), -1)
    return ([self.labels[i] for i in probabilities.argmax(-1).tolist()],
            probabilities)
