"""Reporting radiologists: the habits that make one site's impressions read unlike another's.

Each writer is a distinct voice (a site's house style), but every habit is a probability, so
one writer still varies from study to study. The style names are what `SiteProfile.report_style`
refers to.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Writer:
    """One reporting radiologist's habits; probabilities apply per statement."""

    prose: float = 0.0  # full sentences rather than fragments
    abbreviate: float = 0.0  # LV/RV for left/right ventricular
    index_volumes: float = 0.0  # give volumes indexed to BSA
    mention_absent: float = 0.0  # say that an absent condition is absent
    incidental: float = 0.0  # add incidental normal findings
    caveat: float = 0.0  # add a "cannot exclude" caveat per present condition
    hedge_findings: float = 0.0  # wrap a finding in "likely", "probable", ...
    attach_function: float = 0.0  # fold LV function into the dilated-LV statement
    conclusion_first: float = 0.0
    hedged: bool = False  # hedged negations and normal conclusions
    numbered: bool = False
    measurements_first: bool = False


WRITERS: dict[str, Writer] = {
    # Fragments and abbreviations, few negatives, no incidentals.
    "terse": Writer(
        abbreviate=0.9,
        index_volumes=0.2,
        mention_absent=0.3,
        attach_function=0.7,
        conclusion_first=0.1,
    ),
    # Full sentences, thorough negatives and incidentals, conclusion last.
    "narrative": Writer(
        prose=0.85,
        abbreviate=0.05,
        index_volumes=0.5,
        mention_absent=0.7,
        incidental=0.5,
        caveat=0.15,
        attach_function=0.5,
    ),
    # One finding per numbered line; the diagnosis opens or closes the list.
    "numbered": Writer(
        prose=0.1,
        abbreviate=0.5,
        index_volumes=0.4,
        mention_absent=0.5,
        incidental=0.3,
        caveat=0.1,
        hedge_findings=0.1,
        attach_function=0.4,
        conclusion_first=0.4,
        numbered=True,
    ),
    # Opens with a line of volumes and function, then interprets them.
    "measurement_first": Writer(
        prose=0.3,
        abbreviate=0.6,
        index_volumes=0.8,
        mention_absent=0.4,
        incidental=0.2,
        caveat=0.1,
        attach_function=0.3,
        measurements_first=True,
    ),
    # Qualifies findings and diagnoses, adds caveats about what cine imaging cannot show.
    "hedging": Writer(
        prose=0.3,
        abbreviate=0.2,
        index_volumes=0.3,
        mention_absent=0.6,
        incidental=0.3,
        caveat=0.6,
        hedge_findings=0.5,
        attach_function=0.4,
        hedged=True,
    ),
    # States the diagnosis first, then the findings that support it.
    "conclusion_first": Writer(
        prose=0.5,
        abbreviate=0.3,
        index_volumes=0.5,
        mention_absent=0.5,
        incidental=0.3,
        caveat=0.1,
        attach_function=0.5,
        conclusion_first=1.0,
    ),
}
