"""/admin/reconciliation: when the shop last compared itself with Stripe, what it repaired,
the webhook backlog, and a button to run it now. Admin only (`payments:reconcile`), checked
on the server at every load and click.
"""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from shop.components.admin import admin_page, data_table, loading_notice
from shop.components.layout import link
from shop.models import ReconciliationRun
from shop.pages.admin_orders import when
from shop.services import reconciliation
from shop.state.catalog_data import in_session
from shop.state.staff import StaffState

PERMISSION = "payments:reconcile"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def run_data(run: ReconciliationRun) -> dict[str, str]:
    return {
        "id": str(run.id),
        "trigger": run.trigger,
        "started": when(run.started_at),
        "finished": when(run.finished_at),
        "checked": ", ".join(
            _count(n, noun)
            for n, noun in (
                (run.orders_checked, "order"),
                (run.refunds_checked, "refund"),
                (run.events_checked, "event"),
            )
        ),
        "repaired": str(run.repaired_count),
        "backlog": f"{run.backlog_undelivered} undelivered, {run.backlog_unprocessed} unprocessed",
        "error": run.error or "",
    }


def repair_data(item: dict[str, Any]) -> dict[str, str]:
    number = str(item.get("order_number") or item.get("order_id") or "")
    return {
        "kind": str(item.get("kind") or ""),
        "order": number or "—",
        "href": f"/admin/orders/{number}" if number else "",
        "action": str(item.get("action") or ""),
        "reference": str(item.get("reference") or ""),
    }


class ReconciliationState(StaffState):
    last_error: str = ""  # why the last run stopped; "" also before any run
    last: dict[str, str] = {}
    has_run: bool = False
    repairs: list[dict[str, str]] = []
    runs: list[dict[str, str]] = []
    undelivered: int = 0
    unprocessed: int = 0
    stripe_reachable: bool = True
    running: bool = False
    message: str = ""
    loaded: bool = False

    async def _read(self) -> None:
        def read(session: Any) -> tuple[list[ReconciliationRun], dict[str, int]]:
            return (
                reconciliation.recent_runs(session=session),
                reconciliation.webhook_backlog(session=session),
            )

        runs, backlog = await in_session(read)
        self.runs = [run_data(run) for run in runs]
        self.has_run = bool(runs)
        self.last = self.runs[0] if runs else {}
        self.last_error = self.last.get("error", "")
        self.repairs = [repair_data(item) for item in runs[0].repaired] if runs else []
        self.unprocessed = backlog["unprocessed"]
        self.undelivered = max(backlog["undelivered"], 0)
        self.stripe_reachable = backlog["undelivered"] >= 0

    @rx.event
    async def load(self):
        self.loaded = False
        self.message = ""
        if await self._require(PERMISSION) is None:
            return
        await self._read()
        self.loaded = True

    @rx.event
    async def run_now(self):
        self.message = ""
        actor = await self._require(PERMISSION)
        if actor is None or self.running:
            return
        self.running = True
        yield
        ip = self.router.session.client_ip or None
        try:
            summary = await asyncio.to_thread(
                reconciliation.run_reconciliation, trigger="manual", actor=actor, ip=ip
            )
        finally:
            self.running = False
        self.message = (
            f"Reconciliation failed: {summary.error}"
            if summary.error
            else f"Reconciliation done: {summary.repaired_count} repaired."
        )
        await self._read()


def _summary() -> rx.Component:
    s = ReconciliationState
    return rx.el.dl(
        rx.el.dt("Last run"),
        rx.el.dd(
            rx.cond(
                s.has_run,
                rx.fragment(s.last["finished"], " (", s.last["trigger"], ")"),
                "never",
            )
        ),
        rx.el.dt("Looked at"),
        rx.el.dd(rx.cond(s.has_run, s.last["checked"], "—")),
        rx.el.dt("Repaired"),
        rx.el.dd(rx.cond(s.has_run, s.last["repaired"], "—")),
        rx.el.dt("Webhook backlog"),
        rx.el.dd(
            rx.cond(
                s.stripe_reachable,
                rx.fragment(s.undelivered, " undelivered events not yet repaired, "),
                "Stripe cannot be reached, ",
            ),
            s.unprocessed,
            " stored but not processed",
        ),
        class_name="admin-facts",
    )


def admin_reconciliation_page() -> rx.Component:
    s = ReconciliationState
    return admin_page(
        "Reconciliation",
        rx.el.p(
            "The shop asks Stripe about unpaid orders, refunds and undelivered webhook events "
            "and repairs what it missed. It runs by itself every few minutes.",
            class_name="muted",
        ),
        rx.cond(
            s.loaded,
            rx.fragment(
                _summary(),
                rx.cond(
                    s.last_error != "",
                    rx.el.p("Last run stopped: ", s.last_error, class_name="notice notice-error"),
                ),
                rx.el.button(
                    rx.cond(s.running, "Running…", "Run reconciliation now"),
                    on_click=ReconciliationState.run_now,
                    disabled=s.running,
                    class_name="button button-primary",
                ),
                rx.cond(
                    s.message != "",
                    rx.el.p(s.message, class_name="notice notice-success", role="status"),
                ),
                rx.el.h2("Repaired in the last run", class_name="admin-section-title"),
                rx.cond(
                    s.repairs.length() > 0,  # type: ignore[attr-defined]
                    data_table(
                        ["What", "Order", "Repair", "Stripe id"],
                        s.repairs,
                        lambda r: [
                            rx.el.td(r["kind"]),
                            rx.el.td(
                                rx.cond(r["href"] != "", link(r["order"], to=r["href"]), r["order"])
                            ),
                            rx.el.td(r["action"]),
                            rx.el.td(rx.el.code(r["reference"])),
                        ],
                        "Repairs",
                    ),
                    rx.el.p("Nothing needed repair.", class_name="muted"),
                ),
                rx.el.h2("Recent runs", class_name="admin-section-title"),
                data_table(
                    ["Started", "Finished", "Trigger", "Looked at", "Repaired", "Backlog left"],
                    s.runs,
                    lambda r: [
                        rx.el.td(r["started"], class_name="nowrap"),
                        rx.el.td(r["finished"], class_name="nowrap"),
                        rx.el.td(r["trigger"]),
                        rx.el.td(r["checked"]),
                        rx.el.td(r["repaired"], class_name="num"),
                        rx.el.td(r["backlog"]),
                    ],
                    "Recent runs",
                    numeric=("Repaired",),
                ),
            ),
            loading_notice(),
        ),
        state=ReconciliationState,
    )
