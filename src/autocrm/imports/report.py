"""The error report: the rows that were not imported, as they were in the file, with the reason.

A second sheet lists the rows imported with a warning (a value left out, a VIN whose check digit
does not match). Column and sheet names are fixed Chinese, like the synonyms the import reads:
the report is a spreadsheet for the shop to fix and import again (原因 and 行号 are not mapped)."""

from __future__ import annotations

from autocrm.core import xlsx

REJECTED_SHEET = "未导入"
WARNINGS_SHEET = "警告"
REASON = "原因"
ROW = "行号"


class ErrorReport:
    def __init__(self, headers: list[str]):
        self.headers = [h or f"#{i + 1}" for i, h in enumerate(headers)]
        self.workbook = xlsx.new_workbook()
        self.sheets: dict[str, object] = {}
        self.rejected = 0
        self.warned = 0

    def _sheet(self, title: str):
        sheet = self.sheets.get(title)
        if sheet is None:
            sheet = self.workbook.create_sheet(title)
            sheet.append([*self.headers, REASON, ROW])
            self.sheets[title] = sheet
        return sheet

    def add(self, plan) -> None:
        """A row of the plan (``engine.RowPlan``): rejected, or imported with warnings."""
        if plan.action == "reject":
            sheet, reasons = self._sheet(REJECTED_SHEET), plan.reasons
            self.rejected += 1
        else:
            sheet, reasons = self._sheet(WARNINGS_SHEET), plan.warnings
            self.warned += 1
        values = list(plan.raw[: len(self.headers)])
        values += [None] * (len(self.headers) - len(values))
        # the values as they were: text (formulas too) stays text, never a live formula
        xlsx.append(sheet, [*values, "；".join(str(r) for r in reasons), plan.number])

    @property
    def empty(self) -> bool:
        return not self.sheets

    def save(self, target) -> None:
        """Write to a path or a binary file object (a write-only workbook is saved once)."""
        if self.empty:
            self._sheet(REJECTED_SHEET)
        order = [REJECTED_SHEET, WARNINGS_SHEET]
        self.workbook._sheets.sort(key=lambda ws: order.index(ws.title))
        self.workbook.save(target)
