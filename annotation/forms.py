"""Forms the labeling page posts: one grade or skip of a leased pair."""

from __future__ import annotations

from django import forms

from annotation.models import Level, SkipReason
from annotation.queue import MAX_SECONDS_SPENT


class JudgmentForm(forms.Form):
    """A grade (`level`) or a skip (`skip_reason`, `skip_note`) of the pair leased under `token`.

    `showing` is the token of the card the page put on screen when it sent this form: the
    response's prefetched pair must be a different one.
    """

    token = forms.UUIDField()
    showing = forms.UUIDField(required=False)
    level = forms.TypedChoiceField(choices=Level.choices, coerce=int, required=False, empty_value=None)
    skip_reason = forms.ChoiceField(choices=SkipReason.choices, required=False)
    skip_note = forms.CharField(required=False, max_length=2000, strip=True)
    seconds_spent = forms.FloatField(min_value=0, required=False)

    def clean(self) -> dict[str, object]:
        data = super().clean()
        has_level = data.get("level") is not None
        if has_level == bool(data.get("skip_reason")):
            raise forms.ValidationError("Give either a level from 1 to 5 or a skip reason.")
        if data.get("skip_reason") == SkipReason.OTHER and not data.get("skip_note"):
            self.add_error("skip_note", "Say briefly why you skip this pair.")
        data["seconds_spent"] = min(data.get("seconds_spent") or 0.0, MAX_SECONDS_SPENT)
        return data

    def submission(self) -> dict[str, object]:
        """Keyword arguments for `annotation.queue.submit`."""
        data = self.cleaned_data
        if data["level"] is not None:
            return {"level": data["level"], "seconds_spent": data["seconds_spent"]}
        return {
            "skip_reason": data["skip_reason"],
            "skip_note": data["skip_note"],
            "seconds_spent": data["seconds_spent"],
        }
