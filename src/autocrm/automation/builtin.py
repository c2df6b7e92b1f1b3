"""Built-in rule templates: the reminders and follow-ups every shop wants, as data.

``ensure_builtin(org)`` creates the ones an org lacks — switched off, so nothing is sent until
an administrator looks at them and switches them on — together with the message templates
they use. Each is an ordinary rule afterwards (editable, previewable); ``builtin`` remembers
which template it came from so it is never created twice. The demo switches them all on."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from autocrm.automation import rules as services
from autocrm.automation.conditions import _static_fields
from autocrm.automation.models import Rule
from autocrm.core import audit
from autocrm.core.models import Organization

SETTLED = ["settled", "closed"]


def _coupon() -> str:
    """The coupon placeholder, when messaging offers one (the loyalty area will fill it)."""
    from autocrm.messaging.templating import PLACEHOLDERS

    return "，生日礼券：{coupon}" if "coupon" in PLACEHOLDERS else "，到店出示本短信可享生日礼遇"


# name, channel, purpose, kind, body
def _templates() -> dict[str, tuple]:
    return {
        "maintenance": (
            "保养到期提醒（规则）",
            "rule.maintenance",
            "reminder",
            "{customer_name}您好，您的爱车{plate}预计{due_date}前后需要保养，"
            "欢迎提前预约：{booking_link}",
        ),
        "maintenance_6m": (
            "距上次保养满6个月（规则）",
            "rule.maintenance_6m",
            "reminder",
            "{customer_name}您好，您的爱车{plate}距上次保养（{due_date}）已满6个月，"
            "建议近期到店保养：{booking_link}",
        ),
        "inspection": (
            "年检到期提醒（规则）",
            "rule.inspection",
            "reminder",
            "{customer_name}您好，您的爱车{plate}年检将于{due_date}到期，请及时办理。",
        ),
        "birthday": (
            "生日祝福（规则）",
            "rule.birthday",
            "marketing",
            "{customer_name}您好，{store_name}祝您生日快乐" + _coupon() + "。",
        ),
        "win_back": (
            "久未到店关怀（规则）",
            "rule.win_back",
            "marketing",
            "{customer_name}您好，好久不见！{store_name}为您的爱车准备了免费检测，"
            "欢迎回店：{booking_link}",
        ),
    }


def _has(key: str) -> bool:
    return key in _static_fields()


def definitions(templates: dict[str, int]) -> list[dict]:
    """The built-in rules, given the ids of their message templates."""
    maintenance_due = _has("vehicle.service_due_on")
    defs = [
        {
            "builtin": "maintenance_due",
            "name": "保养到期提醒",
            "description": "预计下次保养日期前7天给车主发提醒短信（日期由里程预测得出）。",
            "entity": "vehicle",
            "trigger": (
                {"type": "date", "field": "vehicle.service_due_on", "offset_days": -7}
                if maintenance_due
                else {"type": "date", "field": "vehicle.last_service_on", "offset_days": 173}
            ),
            "condition": {},
            "actions": [{"type": "message", "template": templates["maintenance"]}],
        },
        {
            "builtin": "maintenance_6_months",
            "name": "距上次保养满6个月",
            "description": "上次保养满180天且没有预测保养日期的车辆，提醒车主回店保养。",
            "entity": "vehicle",
            "trigger": {"type": "date", "field": "vehicle.last_service_on", "offset_days": 180},
            "condition": {"field": "vehicle.service_due_on", "op": "is_empty", "value": True}
            if maintenance_due
            else {},
            "actions": [{"type": "message", "template": templates["maintenance_6m"]}],
        },
        {
            "builtin": "insurance_renewal",
            "name": "续保跟进",
            "description": "保险到期前30天给服务顾问派续保跟进任务。",
            "entity": "vehicle",
            "trigger": {
                "type": "date",
                "field": "vehicle.insurance_expires_on",
                "offset_days": -30,
            },
            "condition": {},
            "actions": [
                {
                    "type": "task",
                    "title": "续保跟进：{plate}（{due_date}到期）",
                    "details": "联系车主{customer_name}确认续保意向并报价。",
                    "kind": "renewal",
                    "role": "service_advisor",
                    "due_hours": 72,
                }
            ],
        },
        {
            "builtin": "inspection_due",
            "name": "年检到期提醒",
            "description": "年检到期前30天提醒车主。",
            "entity": "vehicle",
            "trigger": {"type": "date", "field": "vehicle.inspection_due_on", "offset_days": -30},
            "condition": {},
            "actions": [{"type": "message", "template": templates["inspection"]}],
        },
        {
            "builtin": "birthday",
            "name": "生日祝福",
            "description": "客户生日当天9点发送祝福和生日礼遇（营销短信，需客户同意）。",
            "entity": "customer",
            "trigger": {"type": "anniversary", "field": "customer.birthday", "offset_days": 0},
            "condition": {},
            "actions": [{"type": "message", "template": templates["birthday"]}],
        },
        {
            "builtin": "install_anniversary",
            "name": "改装安装周年回访",
            "description": "音响改装店：安装项目结算满1、2、3年时派回访检查任务。",
            "entity": "work_order",
            "trigger": {
                "type": "anniversary",
                "field": "work_order.settled_at",
                "offset_days": 0,
                "years": [1, 2, 3],
            },
            "condition": {
                "all": [
                    {"field": "store.kind", "op": "eq", "value": "audio"},
                    {"field": "work_order.status", "op": "in", "value": SETTLED},
                    {"field": "work_order.labour_names", "op": "contains", "value": "安装"},
                ]
            },
            "actions": [
                {
                    "type": "task",
                    "title": "安装周年回访检查：{customer_name} {plate}",
                    "details": "工单{work_order_number}的安装项目已满周年，邀请车主回店免费检查。",
                    "kind": "follow_up",
                    "assign_to": "advisor",
                    "due_hours": 48,
                }
            ],
        },
        {
            "builtin": "vip_upgrade",
            "name": "VIP升级",
            "description": "近12个月消费满20000元自动升级为VIP，并通知销售顾问。",
            "entity": "customer",
            "trigger": {"type": "field_changed", "field": "customer.lifetime_spend"},
            "condition": {
                "all": [
                    {"field": "customer.spend_12m", "op": "gte", "value": 20000},
                    {"field": "customer.level", "op": "ne", "value": "VIP"},
                ]
            },
            "actions": [
                {"type": "set_field", "field": "customer.level", "value": "VIP"},
                {
                    "type": "task",
                    "title": "VIP升级通知：{customer_name}",
                    "details": "客户近12个月消费已满20000元，已自动升级为VIP，请致电告知权益。",
                    "kind": "follow_up",
                    "role": "sales",
                    "due_hours": 24,
                },
            ],
        },
        {
            "builtin": "first_service_follow_up",
            "name": "首次服务24小时回访",
            "description": "新客户第一次到店结算后24小时派回访任务。",
            "entity": "work_order",
            "trigger": {"type": "date", "field": "work_order.settled_at", "offset_hours": 24},
            "condition": {
                "all": [
                    {"field": "work_order.status", "op": "in", "value": SETTLED},
                    {"field": "work_order.first_visit", "op": "eq", "value": True},
                ]
            },
            "actions": [
                {
                    "type": "task",
                    "title": "首次服务回访：{customer_name} {plate}",
                    "details": "询问车主对服务的满意度和车辆使用情况。",
                    "kind": "follow_up",
                    "assign_to": "advisor",
                    "due_hours": 24,
                }
            ],
        },
        {
            "builtin": "delivery_follow_up",
            "name": "交车7天回访",
            "description": "4S店新车交车（购车日期）后第7天派销售回访任务。",
            "entity": "vehicle",
            "trigger": {"type": "date", "field": "vehicle.purchased_on", "offset_days": 7},
            "condition": {"field": "store.kind", "op": "eq", "value": "dealer"},
            "actions": [
                {
                    "type": "task",
                    "title": "交车7天回访：{customer_name} {plate}",
                    "details": "了解新车使用情况，介绍首保和会员权益。",
                    "kind": "follow_up",
                    "role": "sales",
                    "due_hours": 24,
                }
            ],
        },
        {
            "builtin": "win_back",
            "name": "180天未到店关怀",
            "description": "到店后满180天仍未回店的客户，发送关怀短信（营销，需客户同意）。",
            "entity": "customer",
            "trigger": {"type": "date", "field": "customer.last_visit_at", "offset_days": 180},
            "condition": {},
            "actions": [{"type": "message", "template": templates["win_back"]}],
        },
        {
            "builtin": "low_score_callback",
            "name": "低分回访",
            "description": "满意度低分时2小时内由店长回访。",
            "entity": "survey",
            "trigger": {"type": "survey_answered"},
            "condition": {"field": "survey.is_low", "op": "eq", "value": True},
            "actions": [
                {
                    "type": "task",
                    "title": "低分回访：{customer_name}（NPS {nps}）",
                    "details": "工单{work_order_number}的满意度评价偏低，请2小时内致电了解原因。",
                    "kind": "callback",
                    "role": "store_manager",
                    "due_hours": 2,
                }
            ],
        },
    ]
    return defs


def _message_templates(org: Organization) -> dict[str, int]:
    from autocrm.messaging.models import MessageTemplate

    ids = {}
    for code, (name, purpose, kind, body) in _templates().items():
        template, _created = MessageTemplate.objects.get_or_create(
            org=org,
            name=name,
            defaults={"channel": "sms", "purpose": purpose, "kind": kind, "body": body},
        )
        ids[code] = template.pk
    return ids


@transaction.atomic
def ensure_builtin(org: Organization) -> list[Rule]:
    """Create the built-in rules (and their message templates) the org lacks, switched off.
    Returns the org's built-in rules."""
    with audit.audit_context(source="rule"):
        have = set(
            Rule.objects.filter(org=org).exclude(builtin="").values_list("builtin", flat=True)
        )
        templates = _message_templates(org)
        for definition in definitions(templates):
            code = definition.pop("builtin")
            if code in have:
                continue
            clean = services.check(org.pk, definition)
            clean.pop("store_ids", None)
            Rule.objects.create(org=org, builtin=code, state=Rule.State.OFF, **clean)
    services._after_commit()
    return list(Rule.objects.filter(org=org).exclude(builtin="").order_by("pk"))


@transaction.atomic
def switch_on_builtin(org: Organization) -> int:
    """Switch every built-in rule of the org on (the demo does)."""
    now = timezone.now()
    count = 0
    with audit.audit_context(source="rule"):
        for rule in ensure_builtin(org):
            if rule.state != Rule.State.ACTIVE:
                rule.state, rule.activated_at, rule.last_run_at = Rule.State.ACTIVE, now, None
                rule.disabled_reason = ""
                rule.save()
                count += 1
    services._after_commit()
    return count


def demo_loader(org, stores, rng, scale) -> dict:
    """Registered in ``autocrm.core.demo.EXTENSIONS``: the demo runs with the built-ins on."""
    switch_on_builtin(org)
    return {"rules": Rule.objects.filter(org=org).count()}
