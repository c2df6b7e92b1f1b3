"""``{% pinned_reports %}``: the saved reports pinned to the dashboard that the user may see,
each run on the user's scope."""

from __future__ import annotations

from django import template

register = template.Library()

PINNED_LIMIT = 6


@register.inclusion_tag("reports/builder_pinned.html", takes_context=True)
def pinned_reports(context):
    from autocrm.reports import builder

    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"pinned": []}
    items = []
    for report in [r for r in builder.visible_reports(user) if r.pinned][:PINNED_LIMIT]:
        result = builder.run(report, user)
        items.append(
            {
                "report": report,
                "result": result,
                "pivot": result.pivot(),
                "chart": result.chart_data(),
                "chart_id": f"builder-data-{report.pk}",
            }
        )
    return {"pinned": items, "row_limit": builder.ROW_LIMIT}
