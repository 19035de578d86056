"""Every plot of the console, drawn through textual-plotext (``PlotextPlot``'s own ``plt``; never
the global ``plotext`` module, whose state is shared by the whole process)."""

from __future__ import annotations

from collections.abc import Sequence

from textual_plotext import PlotextPlot

from engine.lab.exports import format_number


class _Plot(PlotextPlot):
    """A plot that draws a message instead when it has nothing to show."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.title_text = ""   # what is drawn, for tests and screen readers of the code
        self.n_points = 0

    def empty(self, message: str) -> None:
        self.title_text, self.n_points = message, 0
        plt = self.plt
        plt.clear_figure()
        plt.title(message)
        plt.xticks([])
        plt.yticks([])
        self.refresh()


class ReliabilityPlot(_Plot):
    """Reliability diagram of one model × measure: bin confidence vs accuracy, and the diagonal."""

    def show_bins(self, conf: Sequence[float], acc: Sequence[float], counts: Sequence[int],
                  title: str) -> None:
        plt = self.plt
        plt.clear_figure()
        plt.title(title)
        plt.plot([0, 1], [0, 1], marker="braille", color="gray", label="perfect")
        pts = [(c, a) for c, a, n in zip(conf, acc, counts, strict=False)
               if n and c == c and a == a]
        self.title_text, self.n_points = title, len(pts)
        if pts:
            plt.plot([p[0] for p in pts], [p[1] for p in pts], marker="dot", color="cyan",
                     label="bins")
            plt.scatter([p[0] for p in pts], [p[1] for p in pts], marker="●", color="cyan")
        plt.xlim(0, 1)
        plt.ylim(0, 1)
        plt.xlabel("confidence")
        plt.ylabel("accuracy")
        self.refresh()


class NullHistogram(_Plot):
    """The permutation null of a JSD shift, with the observed shift as a vertical line."""

    def show_null(self, null: Sequence[float], observed: float, title: str,
                  bins: int = 30) -> None:
        plt = self.plt
        plt.clear_figure()
        plt.title(title)
        values = [float(v) for v in null if v == v]
        self.title_text, self.n_points, self.observed = title, len(values), observed
        if values:
            plt.hist(values, bins=bins, color="cyan", label="null")
        if observed == observed:
            plt.vline(observed, color="red")
            plt.text(f"observed {format_number(observed, 'shift')}", x=observed, y=0, color="red")
        plt.xlabel("JSD shift")
        plt.ylabel("count")
        self.refresh()


class LayerPlot(_Plot):
    """A probe's cross-validated r (or AUROC) by layer, one line per model, with the shuffled
    targets' 95th percentile (chance) as a dotted line."""

    COLORS = ("cyan", "orange", "green", "magenta", "blue", "red")

    def show_layers(self, curves: Sequence[tuple[str, Sequence[int], Sequence[float],
                                                 Sequence[float]]], score: str) -> None:
        plt = self.plt
        plt.clear_figure()
        plt.title(f"probe {score} by layer (dotted: chance, 95th percentile of shuffles)")
        self.title_text, self.n_points = f"probe {score} by layer", 0
        shown = curves[:len(self.COLORS)]
        for (label, layers, values, chance), color in zip(shown, self.COLORS, strict=False):
            plt.plot(list(layers), list(values), marker="braille", color=color, label=label)
            if any(c == c for c in chance):
                plt.plot(list(layers), list(chance), marker="dot", color=color)
            self.n_points += len(values)
        top = max((max(c[1], default=0) for c in shown), default=0)
        plt.xticks(sorted({1, *range(0, top + 1, max(1, top // 6))} - {0} | {top}))
        plt.xlabel("layer" + (f" (the first {len(shown)} of {len(curves)} runs)"
                              if len(curves) > len(shown) else ""))
        plt.ylabel(score)
        self.refresh()
