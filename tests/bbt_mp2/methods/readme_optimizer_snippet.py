import numpy as np

from bbt_mp2.backbones import load_backbone
from bbt_mp2.local_backend import LocalBackend
from bbt_mp2.methods import tune


class HillClimber:
    """(1 + lambda) hill climbing. Any object with these six members can drive a method."""

    def __init__(self, dim, seed, popsize=10, step=0.5):
        self.rng = np.random.default_rng(seed)
        self.popsize, self.step = popsize, step
        self.x, self.loss = np.zeros(dim), np.inf

    def ask(self):  # -> popsize x dim candidates; each one is one API call
        return self.x + self.step * self.rng.normal(size=(self.popsize, self.x.size))

    def tell(self, X, losses):  # the training losses of the asked candidates
        i = int(np.argmin(losses))
        if losses[i] < self.loss:
            self.x, self.loss = X[i].copy(), float(losses[i])

    def stop(self):  # {} = go on
        return {}

    @property
    def best(self):  # the incumbent (x, loss), scored on dev every eval_every calls
        return self.x, self.loss

    def state_dict(self):  # saved every generation, so --resume continues exactly
        return {"rng": self.rng.bit_generator.state, "x": self.x.tolist(), "loss": self.loss}

    def load_state_dict(self, state):
        self.rng.bit_generator.state = state["rng"]
        self.x, self.loss = np.array(state["x"]), state["loss"]


checkpoint = "english-deep"  # the shipped MiniLM checkpoint: its MRC head scores the prompts
backend = LocalBackend.from_checkpoint(load_backbone("minilm"), checkpoint)
result = tune("sst2", "bbt", seed=13, budget=40, backend=backend, checkpoint=checkpoint, max_length=64,
              optimizer=HillClimber(dim=500, seed=0), out_dir="runs/sst2-hillclimber")
print(result.summary())
