"""The fixed colour of each genre, the same in every chart, embed and terminal, and the colour
arithmetic they need (hex to RGB, relative luminance for legible text on a colour)."""

from __future__ import annotations

# A fixed colour per genre, the same in every chart and terminal, so people learn them. The seven
# most common genres get Okabe & Ito's colour-blind-safe set; the rest come from Paul Tol's
# schemes, placed so that genres which often share a track (jazz/blues/R&B, rock/metal/punk,
# pop/electronic/hip-hop/disco, folk/country) never get look-alike colours. Anything not named in
# a chart is OTHER_COLOR.
GENRE_COLORS: dict[str, str] = {
    "jazz": "#56B4E9",  # sky blue
    "classical": "#F0E442",  # yellow
    "rock": "#D55E00",  # vermillion
    "pop": "#CC79A7",  # reddish purple
    "folk": "#009E73",  # bluish green
    "country": "#E69F00",  # orange
    "electronic": "#0072B2",  # blue
    "blues": "#AA4499",  # magenta
    "rnb/soul": "#EE8866",  # salmon
    "hip-hop": "#BBCC33",  # pear
    "metal": "#FFAABB",  # pink
    "punk": "#9C8FE8",  # violet
    "reggae": "#44BB99",  # mint
    "disco": "#99DDFF",  # pale cyan
}
OTHER_COLOR = "#80848E"
OTHER_LABEL = "other"
SILENCE_COLOR = "#2B2D31"  # silent stretches: darker than the card's grid, never a genre colour
SILENCE_LABEL = "silence"


def genre_color(genre: str) -> str:
    """The fixed ``#RRGGBB`` colour of a genre (grey for "other" and unknown names; dark for
    :data:`SILENCE_LABEL`, which charts and strips draw next to the genres)."""
    if genre == SILENCE_LABEL:
        return SILENCE_COLOR
    return GENRE_COLORS.get(genre, OTHER_COLOR)


def rgb(hex_color: str) -> tuple[int, int, int]:
    h = hex_color.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def relative_luminance(hex_color: str) -> float:
    """Relative luminance (WCAG) in [0, 1]."""

    def lin(c: int) -> float:
        x = c / 255
        return x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4

    r, g, b = rgb(hex_color)
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
