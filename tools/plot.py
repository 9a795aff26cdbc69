#!/usr/bin/python3
"""Plot the memory of a `p2mctl run` over time.

usage: plot.py <series.json> <out.png>

The series is written by `p2mctl run --plot out.png` (out.series.json):
times in seconds and page counts (4 KiB) of the guest's populated memory,
PoD cache, PoD entries, memory mapped by 1G/2M/4K leaves and the host's
free memory, plus the phases of the run.  Exit status 3 means matplotlib
is missing (apt-get install python3-matplotlib).
"""
import json
import sys

NO_MATPLOTLIB = 3


def gib(pages, page_size):
    return [p * page_size / 2**30 for p in pages]


def shade_phases(ax, phases, label, span):
    """Shade the phases; name those wide enough to hold their name."""
    for i, ph in enumerate(phases):
        if ph["end"] - ph["start"] <= 0:
            continue
        ax.axvspan(ph["start"], ph["end"], color="0.93" if i % 2 else "0.86",
                   zorder=0, lw=0)
        if label and ph["end"] - ph["start"] >= 0.04 * span:
            ax.text((ph["start"] + ph["end"]) / 2, 1.01, ph["name"],
                    transform=ax.get_xaxis_transform(), ha="center",
                    va="bottom", fontsize=8)


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot.py: matplotlib is missing: apt-get install "
              "python3-matplotlib", file=sys.stderr)
        return NO_MATPLOTLIB
    with open(sys.argv[1]) as f:
        s = json.load(f)
    ps = s.get("page_size", 4096)
    t = s["t"]
    fig, (top, bot) = plt.subplots(2, 1, figsize=(11, 7.5), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 2]})
    span = max(t[-1] - t[0], 1e-9) if t else 1.0
    lines = []
    for key, label, style in (("populated", "populated", "-"),
                              ("pod_cache", "PoD cache", "-"),
                              ("pod_entries", "PoD entries", "--")):
        lines += top.plot(t, gib(s[key], ps), style, label=label, lw=1.6)
    top.set_ylabel("guest GiB")
    host = top.twinx()
    lines += host.plot(t, gib(s["host_free"], ps), ":", color="tab:red",
                       label="host free (right)", lw=1.4)
    host.set_ylabel("host free GiB")
    host.set_ylim(bottom=0)
    top.set_ylim(bottom=0)
    top.legend(lines, [l.get_label() for l in lines], loc="upper right",
               fontsize=8)
    top.grid(alpha=0.3)
    shade_phases(top, s["phases"], True, span)
    bot.stackplot(t, gib(s["mapped_1g"], ps), gib(s["mapped_2m"], ps),
                  gib(s["mapped_4k"], ps),
                  labels=["1G leaves", "2M leaves", "4K leaves"], alpha=0.85)
    bot.set_ylabel("GiB mapped")
    bot.set_xlabel("seconds")
    bot.legend(loc="upper right", fontsize=8)
    bot.grid(alpha=0.3)
    shade_phases(bot, s["phases"], False, span)
    fig.suptitle(s.get("title", "p2mctl run"), fontsize=11)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
