"""Demo shop floor: catalog, settings, stages, and months of appointments, work orders, lines,
payments, inspections, QC, time, recommendations and surveys, up to five million work orders.

Registered in ``autocrm.core.demo.EXTENSIONS`` after the customers' loader, whose customers and
vehicles it serves. Like that loader it writes prepared rows in chunks (``executemany`` on
SQLite, ``COPY`` on PostgreSQL) with ids allocated up front, never one ORM save per row. Money is
computed in integer cents so every amount and total is exact and consistent:

- line amount = quantity × unit price × (1 − discount % / 100), rounded half up to cents;
- a labour line's unit price is the item's flat price (standard hours × the hourly rate) and
  its quantity how many times the job is done, as ``services.add_package`` makes them;
- work order totals count approved lines only: labour (every category but materials and
  other), parts (materials), other, the discount given, total, and the VAT inside the total
  (total − total / 1.13, to cents); ``paid`` is the sum of its payments.

Customers' visit figures and vehicles' last service and mileage are set from the generated work
orders as ``services._after_settle`` keeps them (a visit is a settled or closed work order,
dated by its settlement), so they agree exactly."""

from __future__ import annotations

import bisect
import datetime
import json
import random
import time
from collections import defaultdict
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from autocrm.catalog.models import LabourItem, PackageItem, Part, ServicePackage, StorePrice
from autocrm.core import audit
from autocrm.core.demo_sql import trusted_bulk_load
from autocrm.core.models import Organization, Store, User
from autocrm.core.roles import SERVICE_ADVISOR, STORE_MANAGER, TECHNICIAN
from autocrm.customers import maintenance
from autocrm.customers.demo import Writer
from autocrm.customers.demo import drop_indexes as _drop_indexes
from autocrm.customers.demo import restore_indexes as _restore_indexes
from autocrm.customers.models import Customer, MileageReading, Vehicle
from autocrm.feedback.models import LOW_REASONS, Survey
from autocrm.messaging.models import OutboxMessage
from autocrm.service.models import (
    Appointment,
    Inspection,
    InspectionResult,
    InspectionTemplate,
    InspectionTemplateItem,
    Payment,
    QualityCheck,
    Recommendation,
    ServiceSettings,
    TimeEntry,
    WorkOrder,
    WorkOrderCounter,
    WorkOrderLine,
    default_qc_items,
)
from autocrm.service.services import CLASS_WEIGHT, WARRANTY_MINIMUM
from autocrm.workflow.models import DEFAULT_STAGES, Stage, StageVisit

# Work orders for the whole org, days of history, and the recent windows that get the detailed
# records (time entries, assigned technicians, QC; inspections) at each scale.
PLAN = {
    "small": {"orders": 3_000, "days": 365, "detail_days": 365, "inspect_days": 60},
    "chain": {"orders": 100_000, "days": 365, "detail_days": 365, "inspect_days": 30},
    "large": {
        "orders": 5_000_000,
        "days": 730,
        "detail_days": 30,
        "inspect_days": 10,
        "python_days": 30,
    },
}
# Days before ``python_days`` (when a plan has it) are written set-based by ``demo_history``.
CHUNK = 20_000  # rows buffered per table before writing
OPEN_PER_STORE = (25, 40)

# --- catalog --------------------------------------------------------------------------------

# code, name, standard hours, hourly rate (the item's price is hours × rate), category, class
LABOUR = [
    ("L001", "更换机油机滤", "0.5", 120, "labour", "first"),
    ("L002", "更换空气滤芯", "0.2", 120, "labour", "first"),
    ("L003", "更换空调滤芯", "0.3", 120, "labour", "first"),
    ("L004", "更换火花塞", "1.0", 150, "labour", "second"),
    ("L005", "更换刹车油", "1.0", 150, "labour", "minor"),
    ("L006", "更换前刹车片", "1.0", 150, "labour", "minor"),
    ("L007", "更换后刹车片", "1.0", 150, "labour", "minor"),
    ("L008", "更换刹车盘", "1.5", 150, "labour", "minor"),
    ("L009", "刹车系统检修", "1.5", 160, "labour", "special"),
    ("L010", "四轮定位", "1.0", 180, "labour", "special"),
    ("L011", "轮胎拆装动平衡", "0.5", 100, "labour", "minor"),
    ("L012", "更换蓄电池", "0.3", 120, "labour", "minor"),
    ("L013", "更换雨刮片", "0.2", 80, "labour", "minor"),
    ("L014", "空调清洗", "1.0", 150, "labour", "special"),
    ("L015", "空调系统检修加氟", "1.0", 160, "labour", "special"),
    ("L016", "更换变速箱油", "1.5", 160, "labour", "second"),
    ("L017", "更换防冻液", "0.8", 140, "labour", "minor"),
    ("L018", "节气门清洗", "0.8", 140, "labour", "minor"),
    ("L019", "喷油嘴清洗", "1.0", 150, "labour", "minor"),
    ("L020", "发动机故障诊断", "1.0", 200, "diagnosis", "special"),
    ("L021", "电脑检测", "0.5", 160, "testing", "minor"),
    ("L022", "底盘检查", "0.5", 120, "testing", "minor"),
    ("L023", "更换减震器", "2.0", 160, "labour", "assembly"),
    ("L024", "更换正时皮带", "3.0", 180, "labour", "assembly"),
    ("L025", "发动机大修", "12.0", 200, "labour", "assembly"),
    ("L026", "钣金修复", "3.0", 150, "processing", "special"),
    ("L027", "喷漆（单面）", "2.0", 200, "processing", "special"),
    ("L028", "补胎", "0.3", 100, "labour", "minor"),
    ("L029", "大保养工时", "1.5", 150, "labour", "second"),
    ("L030", "更换灯泡", "0.2", 80, "labour", "minor"),
    ("L031", "更换发电机", "2.0", 160, "labour", "assembly"),
    ("L032", "更换起动机", "1.5", 160, "labour", "assembly"),
    ("L033", "冷却系统检修", "1.5", 150, "labour", "special"),
    ("L034", "精致洗车", "0.5", 60, "other", "minor"),
    ("L035", "内饰清洁消毒", "1.0", 100, "other", "minor"),
    ("L036", "功放安装", "3.0", 200, "labour", "special"),
    ("L037", "DSP调音", "2.0", 300, "labour", "special"),
    ("L038", "喇叭升级安装", "2.5", 200, "labour", "special"),
    ("L039", "低音炮安装", "2.0", 200, "labour", "special"),
    ("L040", "全车隔音施工", "8.0", 180, "processing", "special"),
    ("L041", "行车记录仪安装", "1.0", 150, "labour", "minor"),
    ("L042", "贴膜施工", "4.0", 150, "processing", "special"),
    ("L043", "电路检修", "1.5", 160, "labour", "special"),
]

# code, name, brand, spec, unit, price (yuan)
PARTS = [
    ("P001", "全合成机油", "美孚", "美孚1号 0W-20 SP 4L", "桶", 458),
    ("P002", "全合成机油", "壳牌", "超凡喜力 5W-30 SP 4L", "桶", 368),
    ("P003", "全合成机油", "嘉实多", "极护 5W-40 SN 4L", "桶", 398),
    ("P004", "半合成机油", "美孚", "美孚速霸2000 5W-30 4L", "桶", 268),
    ("P005", "合成机油", "长城", "金吉星 5W-30 SN 4L", "桶", 198),
    ("P006", "机油滤芯", "曼牌", "W 610/3", "个", 48),
    ("P007", "机油滤芯", "马勒", "OC 217", "个", 42),
    ("P008", "机油滤芯", "博世", "0 986 AF0 051", "个", 38),
    ("P009", "空气滤芯", "曼牌", "C 27006", "个", 68),
    ("P010", "空气滤芯", "马勒", "LX 1566", "个", 62),
    ("P011", "空气滤芯", "博世", "F 026 400 287", "个", 58),
    ("P012", "空调滤芯", "曼牌", "CUK 2939 活性炭", "个", 88),
    ("P013", "空调滤芯", "博世", "1 987 432 397 活性炭", "个", 78),
    ("P014", "空调滤芯", "3M", "PM2.5 高效", "个", 98),
    ("P015", "火花塞", "NGK", "铱金 ILZKR7B11", "支", 88),
    ("P016", "火花塞", "博世", "双铂金 FR7KPP33U+", "支", 78),
    ("P017", "火花塞", "电装", "铱金 IK20TT", "支", 92),
    ("P018", "前刹车片", "博世", "陶瓷配方 前轮", "套", 368),
    ("P019", "前刹车片", "菲罗多", "ECO 前轮", "套", 428),
    ("P020", "前刹车片", "原厂", "原厂件 前轮", "套", 580),
    ("P021", "后刹车片", "博世", "陶瓷配方 后轮", "套", 298),
    ("P022", "后刹车片", "菲罗多", "ECO 后轮", "套", 358),
    ("P023", "刹车盘", "博世", "前轮 通风盘", "个", 520),
    ("P024", "刹车油", "博世", "DOT4 1L", "瓶", 68),
    ("P025", "刹车油", "壳牌", "DOT4 1L", "瓶", 58),
    ("P026", "轮胎", "米其林", "浩悦4 205/55R16 91V", "条", 698),
    ("P027", "轮胎", "普利司通", "泰然者 215/60R16 95V", "条", 620),
    ("P028", "轮胎", "固特异", "安乘 225/45R17 94W", "条", 720),
    ("P029", "轮胎", "马牌", "UC7 235/45R18 98W", "条", 980),
    ("P030", "轮胎", "佳通", "Comfort 228 205/55R16", "条", 368),
    ("P031", "轮胎", "玛吉斯", "MA656 195/65R15", "条", 320),
    ("P032", "蓄电池", "瓦尔塔", "L2-400 60Ah", "个", 560),
    ("P033", "蓄电池", "骆驼", "55D23L 60Ah", "个", 420),
    ("P034", "蓄电池", "风帆", "L2-400 60Ah", "个", 460),
    ("P035", "启停蓄电池", "瓦尔塔", "AGM L3 70Ah", "个", 1280),
    ("P036", "无骨雨刮片", "博世", "风翼 24/16寸", "对", 128),
    ("P037", "无骨雨刮片", "米其林", "26/16寸", "对", 108),
    ("P038", "无骨雨刮片", "3M", "22/18寸", "对", 98),
    ("P039", "防冻液", "壳牌", "-35℃ 4L", "桶", 128),
    ("P040", "防冻液", "长城", "-45℃ 4L", "桶", 98),
    ("P041", "自动变速箱油", "嘉实多", "ATF Dex VI 1L", "升", 98),
    ("P042", "自动变速箱油", "美孚", "ATF 320 1L", "升", 88),
    ("P043", "节气门清洗剂", "3M", "500ml", "瓶", 58),
    ("P044", "燃油宝", "巴斯夫", "燃油添加剂 2瓶装", "盒", 98),
    ("P045", "空调清洗剂", "3M", "蒸发箱泡沫 500ml", "瓶", 88),
    ("P046", "冷媒", "杜邦", "R134a 500g", "瓶", 120),
    ("P047", "卤素灯泡", "欧司朗", "H7 12V 55W", "个", 68),
    ("P048", "LED大灯灯泡", "飞利浦", "H11 LED", "对", 398),
    ("P049", "前减震器", "KYB", "Excel-G 前", "个", 680),
    ("P050", "前减震器", "倍适登", "B4 前", "个", 980),
    ("P051", "正时皮带套装", "盖茨", "含张紧轮", "套", 980),
    ("P052", "发电机", "博世", "14V 150A", "个", 1680),
    ("P053", "起动机", "法雷奥", "12V 1.4kW", "个", 1280),
    ("P054", "油漆辅料", "杜邦", "单面 水性漆", "项", 380),
    ("P055", "补胎胶条", "玛吉斯", "蘑菇钉", "个", 30),
    ("P056", "冷却液软管", "盖茨", "上水管", "根", 160),
    ("P057", "节温器", "马勒", "87℃", "个", 260),
    ("P058", "喷油嘴清洗剂", "3M", "免拆 300ml", "瓶", 98),
    ("P059", "汽车功放", "JBL", "CLUB A600 四声道", "台", 1680),
    ("P060", "DSP功放", "HELIX", "DSP.3 八声道", "台", 4980),
    ("P061", "DSP功放", "艾索特", "ARC 8 声道", "台", 3280),
    ("P062", "两分频套装喇叭", "海贝斯", "ESK 165L.5", "套", 1980),
    ("P063", "两分频套装喇叭", "JBL", "GX602C", "套", 980),
    ("P064", "两分频套装喇叭", "阿尔派", "R2-S65C", "套", 1580),
    ("P065", "中低音喇叭", "摩雷", "MW 6 6.5寸", "对", 1280),
    ("P066", "低音炮", "JL Audio", "10TW3 10寸", "个", 2680),
    ("P067", "有源低音炮", "先锋", "TS-WX130DA", "个", 1180),
    ("P068", "隔音材料", "大师", "全车 止震板+吸音棉", "套", 2680),
    ("P069", "功放电源线", "JL Audio", "4GA 无氧铜", "米", 25),
    ("P070", "音频信号线", "莫斯特", "RCA 双芯 5m", "根", 120),
    ("P071", "保险座", "JL Audio", "ANL 80A", "个", 80),
    ("P072", "行车记录仪", "70迈", "A500S 前后双录", "台", 699),
    ("P073", "行车记录仪", "盯盯拍", "MINI5", "台", 599),
    ("P074", "汽车窗膜", "3M", "晶锐70 全车", "套", 4800),
    ("P075", "汽车窗膜", "龙膜", "AIR80 全车", "套", 3200),
    ("P076", "汽车窗膜", "量子", "Q-70 全车", "套", 2800),
    ("P077", "喇叭线", "莫斯特", "16AWG", "米", 18),
    ("P078", "门板卡扣", "原厂", "通用", "个", 5),
    ("P079", "玻璃水", "3M", "-25℃ 2L", "桶", 25),
    ("P080", "刹车盘", "菲罗多", "前轮 打孔盘", "个", 680),
]

OILS = ["P001", "P002", "P003", "P004", "P005"]
OIL_FILTERS = ["P006", "P007", "P008"]
AIR_FILTERS = ["P009", "P010", "P011"]
CABIN_FILTERS = ["P012", "P013", "P014"]
PLUGS = ["P015", "P016", "P017"]
FRONT_PADS = ["P018", "P019", "P020"]
TYRES = ["P026", "P027", "P028", "P029", "P030", "P031"]
BATTERIES = ["P032", "P033", "P034", "P035"]
WIPERS = ["P036", "P037", "P038"]
SPEAKERS = ["P062", "P063", "P064", "P065"]
AMPS = ["P059", "P061"]
FILMS = ["P074", "P075", "P076"]

# code, name, repair class, bookable, items: (labour code | part code, quantity)
PACKAGES = [
    ("K01", "小保养", "first", True, [("L001", "1"), ("P002", "1"), ("P006", "1")]),
    (
        "K02",
        "大保养",
        "second",
        True,
        [
            ("L029", "1"),
            ("L001", "1"),
            ("P001", "1"),
            ("P006", "1"),
            ("P009", "1"),
            ("P012", "1"),
            ("P015", "4"),
        ],
    ),
    ("K03", "四轮定位", "special", True, [("L010", "1")]),
    ("K04", "空调清洗", "special", True, [("L014", "1"), ("P045", "1")]),
    (
        "K05",
        "功放安装",
        "special",
        True,
        [("L036", "1"), ("P059", "1"), ("P069", "5"), ("P070", "1"), ("P071", "1")],
    ),
    ("K06", "DSP调音", "special", True, [("L037", "1")]),
    ("K07", "前刹车片更换", "minor", True, [("L006", "1"), ("P018", "1")]),
    ("K08", "喇叭升级", "special", True, [("L038", "1"), ("P062", "1"), ("P078", "8")]),
]

# Jobs a work order is made of: name, package code, complaint, weights (repair shop, audio
# shop, dealer), slots [(item code or list of alternatives, quantity)].
JOBS = [
    ("小保养", "K01", "到期保养", (40, 4, 40), [("L001", 1), (OILS, 1), (OIL_FILTERS, 1)]),
    (
        "大保养",
        "K02",
        "里程到了做大保养",
        (12, 1, 20),
        [
            ("L029", 1),
            ("L001", 1),
            (OILS, 1),
            (OIL_FILTERS, 1),
            (AIR_FILTERS, 1),
            (CABIN_FILTERS, 1),
            (PLUGS, 4),
        ],
    ),
    ("四轮定位", "K03", "方向盘跑偏", (8, 0, 6), [("L010", 1)]),
    ("空调清洗", "K04", "空调有异味", (6, 1, 4), [("L014", 1), ("P045", 1)]),
    ("前刹车片", "K07", "刹车有异响", (7, 0, 5), [("L006", 1), (FRONT_PADS, 1)]),
    (
        "刹车检修",
        None,
        "刹车发软",
        (4, 0, 3),
        [("L009", 1), ("L005", 1), (["P024", "P025"], 1)],
    ),
    ("换两条轮胎", None, "轮胎磨损严重", (5, 0, 3), [("L011", 1), (TYRES, 2)]),
    ("换四条轮胎", None, "换新轮胎", (2, 0, 1), [("L011", 2), (TYRES, 4), ("L010", 1)]),
    ("蓄电池", None, "打不着火", (4, 0, 3), [("L012", 1), (BATTERIES, 1)]),
    ("雨刮", None, "雨刮刮不干净", (5, 1, 3), [("L013", 1), (WIPERS, 1)]),
    ("故障诊断", None, "发动机故障灯亮", (4, 0, 5), [("L020", 1), ("L021", 1)]),
    ("空调加氟", None, "空调不制冷", (3, 0, 2), [("L015", 1), ("P046", 1)]),
    ("变速箱油", None, "换挡顿挫", (3, 0, 3), [("L016", 1), (["P041", "P042"], 4)]),
    ("防冻液", None, "水温偏高", (2, 0, 2), [("L017", 1), (["P039", "P040"], 1)]),
    ("节气门清洗", None, "怠速抖动", (3, 0, 2), [("L018", 1), ("P043", 1)]),
    ("喷油嘴清洗", None, "油耗偏高", (2, 0, 1), [("L019", 1), ("P058", 1), ("P044", 1)]),
    ("减震器", None, "过坎有异响", (1, 0, 1), [("L023", 1), (["P049", "P050"], 2)]),
    ("正时皮带", None, "到期更换正时皮带", (1, 0, 1), [("L024", 1), ("P051", 1)]),
    ("钣金喷漆", None, "车门剐蹭", (4, 0, 4), [("L026", 1), ("L027", 1), ("P054", 1)]),
    ("洗车", None, "洗车", (6, 2, 3), [("L034", 1)]),
    ("内饰消毒", None, "车内有异味", (2, 1, 1), [("L035", 1)]),
    ("灯泡", None, "大灯不亮", (2, 1, 1), [("L030", 1), (["P047", "P048"], 2)]),
    ("发电机", None, "电瓶灯亮", (0.5, 0, 0.5), [("L031", 1), ("P052", 1)]),
    ("起动机", None, "启动困难", (0.4, 0, 0.4), [("L032", 1), ("P053", 1)]),
    ("冷却系统", None, "漏水", (1, 0, 1), [("L033", 1), ("P056", 1), ("P057", 1)]),
    ("补胎", None, "轮胎扎钉", (3, 0, 1), [("L028", 1), ("P055", 1)]),
    ("发动机大修", None, "发动机烧机油", (0.1, 0, 0.2), [("L025", 1)]),
    (
        "功放安装",
        "K05",
        "加装功放",
        (0, 10, 0),
        [("L036", 1), (AMPS, 1), ("P069", 5), ("P070", 1), ("P071", 1)],
    ),
    ("DSP调音", "K06", "音质调校", (0, 8, 0), [("L037", 1), (["P060", "P061"], 1)]),
    ("喇叭升级", "K08", "升级音响", (0, 10, 0), [("L038", 1), (SPEAKERS, 1), ("P078", 8)]),
    ("低音炮", None, "加装低音炮", (0, 5, 0), [("L039", 1), (["P066", "P067"], 1), ("P069", 4)]),
    ("全车隔音", None, "路噪太大", (0, 4, 0), [("L040", 1), ("P068", 1)]),
    ("行车记录仪", None, "加装记录仪", (0.5, 6, 0.5), [("L041", 1), (["P072", "P073"], 1)]),
    ("贴膜", None, "全车贴膜", (0.5, 6, 1), [("L042", 1), (FILMS, 1)]),
    ("电路检修", None, "音响无声", (0, 3, 0), [("L043", 1), ("P077", 5)]),
]
# Work suggested during a visit, which the owner may accept, decline or put off.
UPSELLS = ["前刹车片", "换两条轮胎", "蓄电池", "雨刮", "空调清洗", "节气门清洗", "变速箱油"]
UPSELLS += ["防冻液", "四轮定位", "喷油嘴清洗"]
AUDIO_UPSELLS = ["全车隔音", "DSP调音", "低音炮", "贴膜"]
DECLINE_REASONS = ["下次再做", "价格有点高", "先观察一下", "时间来不及", "回去商量一下"]
URGENCIES = ["now", "soon", "soon", "later"]
# The work order rules: heavier repair classes decide the warranty (the national minimums).
REPAIR_RANK = CLASS_WEIGHT
WARRANTY = WARRANTY_MINIMUM
# Prices include VAT at the store's default rate (13 %): tax = total − total / 1.13.
VAT_PERCENT = int(ServiceSettings._meta.get_field("tax_rate").default * 100)
CANCEL_REASONS = ["客户临时有事", "价格没谈拢", "配件无货", "客户改去4S店"]

INSPECTION_ITEMS = [
    ("外观", ["车身外观", "前挡风玻璃", "灯光", "雨刮"]),
    ("轮胎制动", ["左前轮胎", "右前轮胎", "左后轮胎", "右后轮胎", "前刹车片", "后刹车片"]),
    ("轮胎制动", ["刹车油"]),
    ("发动机舱", ["机油液位", "防冻液", "蓄电池", "皮带", "空气滤芯"]),
    ("底盘", ["减震器", "底盘漏油", "排气管"]),
    ("车内", ["空调滤芯", "故障灯", "喇叭"]),
]
AUDIO_INSPECTION_ITEMS = [
    ("原车状况", ["原车音响功能", "蓄电池电压", "保险丝盒", "原车线束"]),
    ("内饰", ["车门板卡扣", "仪表台异响", "后备箱空间", "倒车影像"]),
]
RATING_NOTES = {"soon": "磨损较大，建议近期更换", "now": "需立即处理", "na": ""}

PAY_METHODS = ["wechat", "alipay", "card", "cash"]
PAY_WEIGHTS = [50, 25, 15, 10]
PASSIVE_STARS = (3, 4, 4, 4, 5, 5, 5, 5)
HAPPY_COMMENTS = ["", "", "", "服务很好", "师傅很专业", "速度快，价格透明", "下次还来"]
LOW_COMMENTS = ["等了太久", "价格比别家贵", "问题没解决，又亮灯了", "没人告诉我进度", "车没洗干净"]
HANDLING_NOTES = ["已电话致歉并赠送洗车券", "店长回访，安排免费复检", "已解释收费明细，客户认可"]
LOW_REASON_CODES = [code for code, _label in LOW_REASONS]
QC_OK = json.dumps([{"name": n, "ok": True} for n in default_qc_items()], ensure_ascii=False)
QC_FAIL = json.dumps(
    [{"name": n, "ok": i != 1} for i, n in enumerate(default_qc_items())], ensure_ascii=False
)
TIER1 = {"北京", "上海", "广州", "深圳"}
STAGE_OF = {"draft": (0, 1), "estimate": (2,), "in_progress": (3, 3, 4), "qc": (5,), "ready": (6,)}
OPEN_STATUSES = ["draft", "estimate", "in_progress", "qc", "ready"]
OPEN_WEIGHTS = [4, 5, 12, 3, 6]


class TimedWriter(Writer):
    """The customers' writer, timing every table."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: dict = defaultdict(float)

    def insert(self, model, columns, rows) -> None:
        t0 = time.perf_counter()
        super().insert(model, columns, rows)
        self.seconds[model] += time.perf_counter() - t0


class Buffers:
    """Row buffers per table, written when full and at the end."""

    def __init__(self, writer: TimedWriter, columns: dict) -> None:
        self.writer = writer
        self.columns = columns
        self.rows: dict = {m: [] for m in columns}

    def add(self, model, row) -> None:
        self.rows[model].append(row)

    def maybe_flush(self) -> None:
        """Between work orders (a work order's rows are added in no particular order)."""
        if any(len(rows) >= CHUNK for rows in self.rows.values()):
            self.flush()

    def flush(self) -> None:
        # All tables, parents before children (the order of COLUMNS), so that foreign keys,
        # checked at once on PostgreSQL, always point at rows already written.
        for m in self.columns:
            if self.rows[m]:
                self.writer.insert(m, self.columns[m], self.rows[m])
                self.rows[m] = []


def _cols(model, *names: str) -> list[str]:
    fields = {f.name: f.column for f in model._meta.concrete_fields}
    return [fields[n] for n in names]


COLUMNS = {
    Appointment: [
        "id",
        "org",
        "store",
        "customer",
        "vehicle",
        "name",
        "mobile",
        "plate",
        "package",
        "note",
        "starts_at",
        "status",
        "channel",
        "created_by",
        "confirmed_at",
        "arrived_at",
        "cancel_reason",
        "created_at",
        "updated_at",
    ],
    WorkOrder: [
        "id",
        "org",
        "store",
        "number",
        "customer",
        "vehicle",
        "appointment",
        "advisor",
        "status",
        "mileage_in",
        "complaint",
        "promised_at",
        "opened_at",
        "settled_at",
        "closed_at",
        "repair_class",
        "warranty_days",
        "warranty_km",
        "old_parts_returned",
        "custom",
        "labour_total",
        "parts_total",
        "other_total",
        "discount_total",
        "total",
        "tax",
        "paid",
        "stage",
        "stage_entered_at",
        "cancel_reason",
        "version",
        "updated_by",
        "created_at",
        "updated_at",
    ],
    WorkOrderLine: [
        "id",
        "work_order",
        "kind",
        "labour",
        "part",
        "package",
        "code",
        "name",
        "brand",
        "spec",
        "unit",
        "category",
        "quantity",
        "unit_price",
        "discount_pct",
        "amount",
        "discount_approved_by",
        "customer_supplied",
        "approval",
        "approval_channel",
        "approved_by_name",
        "approved_at",
        "decline_reason",
        "urgency",
        "progress",
        "sort",
        "created_at",
    ],
    WorkOrderLine.technicians.through: ["workorderline", "user"],
    Payment: [
        "id",
        "org",
        "store",
        "work_order",
        "method",
        "kind",
        "amount",
        "reference",
        "received_by",
        "created_at",
    ],
    Recommendation: [
        "id",
        "org",
        "store",
        "vehicle",
        "customer",
        "source_line",
        "name",
        "amount",
        "reason",
        "urgency",
        "status",
        "resolved_at",
        "created_at",
        "updated_at",
    ],
    TimeEntry: ["id", "work_order", "line", "technician", "started_at", "ended_at", "note"],
    QualityCheck: ["id", "work_order", "inspector", "passed", "items", "reason", "created_at"],
    Inspection: ["id", "work_order", "template", "inspector", "started_at", "completed_at"],
    InspectionResult: ["id", "inspection", "section", "name", "rating", "note", "sort"],
    StageVisit: ["id", "work_order", "stage", "entered_at", "left_at", "moved_by"],
    Survey: [
        "id",
        "org",
        "store",
        "work_order",
        "customer",
        "nps",
        "timeliness",
        "professionalism",
        "attitude",
        "result",
        "reasons",
        "comment",
        "is_low",
        "submitted_at",
        "handled_at",
        "handled_by",
        "handling_note",
    ],
    MileageReading: [
        "id",
        "vehicle",
        "km",
        "read_on",
        "source",
        "note",
        "recorded_by",
        "created_at",
    ],
    OutboxMessage: [
        "id",
        "org",
        "store",
        "customer",
        "channel",
        "to",
        "purpose",
        "body",
        "status",
        "send_after",
        "related",
        "created_at",
    ],
    WorkOrderCounter: ["store", "day", "last"],
}
# Tables whose secondary indexes are dropped during the load and rebuilt once at the end.
REINDEX = [
    WorkOrder,
    WorkOrderLine,
    WorkOrderLine.technicians.through,
    Payment,
    Recommendation,
    TimeEntry,
    QualityCheck,
    Inspection,
    InspectionResult,
    Survey,
    Appointment,
]


# --- time and money helpers -----------------------------------------------------------------
# Times are whole minutes since 0001-01-01 UTC (date ordinal × 1440 + minute of the day).
# Shop hours 08:30–18:00 in Shanghai are 00:30–10:00 UTC, so a local day is one UTC day here.


class Clock:
    def __init__(self, suffix: str) -> None:
        self.suffix = suffix
        self.days: dict[int, str] = {}
        self.cache: dict[int, str] = {}

    def day(self, ordinal: int) -> str:
        text = self.days.get(ordinal)
        if text is None:
            text = self.days[ordinal] = datetime.date.fromordinal(ordinal).isoformat()
        return text

    def ts(self, minutes: int | None) -> str | None:
        if minutes is None:
            return None
        text = self.cache.get(minutes)
        if text is None:
            d, m = divmod(minutes, 1440)
            h, m = divmod(m, 60)
            text = f"{self.day(d)} {h:02d}:{m:02d}:00{self.suffix}"
            if len(self.cache) < 2_000_000:
                self.cache[minutes] = text
        return text


def yuan(cents: int) -> float:
    """Cents as a float that prints back as the exact two-place amount (1234.5 → "1234.5")."""
    return cents / 100


def half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


def tax_of(total_c: int) -> int:
    return total_c - half_up(total_c * 100, 100 + VAT_PERCENT)


# --- set-up rows ----------------------------------------------------------------------------


def _catalog(org: Organization, stores: list[Store]):
    labour = LabourItem.objects.bulk_create(
        [
            LabourItem(
                org=org,
                code=c,
                name=n,
                hours=Decimal(h),
                price=(Decimal(h) * p).quantize(Decimal("0.01")),
                category=cat,
                repair_class=rc,
            )
            for c, n, h, p, cat, rc in LABOUR
        ]
    )
    parts = Part.objects.bulk_create(
        [
            Part(
                org=org,
                code=c,
                name=n,
                brand=b,
                spec=s,
                unit=u,
                price=Decimal(p),
                cost=(Decimal(p) * Decimal("0.62")).quantize(Decimal("0.01")),
            )
            for c, n, b, s, u, p in PARTS
        ]
    )
    by_code = {x.code: x for x in [*labour, *parts]}
    packages = ServicePackage.objects.bulk_create(
        [
            ServicePackage(org=org, code=c, name=n, repair_class=rc, bookable=b)
            for c, n, rc, b, _items in PACKAGES
        ]
    )
    items = []
    for pkg, (_c, _n, _rc, _b, entries) in zip(packages, PACKAGES, strict=True):
        for sort, (code, qty) in enumerate(entries, 1):
            item = by_code[code]
            kind = "labour" if code.startswith("L") else "part"
            items.append(PackageItem(package=pkg, quantity=qty, sort=sort, **{kind: item}))
    PackageItem.objects.bulk_create(items)
    # Tier-1 city stores charge 20 % more for labour; members of 金卡/VIP pay 10 % less there.
    prices = []
    for store in stores:
        if store.city in TIER1:
            for item in labour:
                price = (item.price * 12 / 10).quantize(item.price)
                member = str((price * 9 / 10).quantize(item.price))
                prices.append(
                    StorePrice(
                        store=store,
                        labour=item,
                        price=price,
                        member_prices={"金卡": member, "VIP": member},
                    )
                )
    StorePrice.objects.bulk_create(prices, batch_size=2000)
    return by_code, {p.code: p for p in packages}, len(prices)


def _templates(org: Organization):
    made = {}
    for name, sections in (
        ("接车检查", INSPECTION_ITEMS),
        ("音响改装检查", AUDIO_INSPECTION_ITEMS),
    ):
        template = InspectionTemplate.objects.create(org=org, name=name)
        rows = []
        for section, names in sections:
            for item in names:
                rows.append((section, item, len(rows) + 1))
        InspectionTemplateItem.objects.bulk_create(
            [
                InspectionTemplateItem(template=template, section=s, name=n, sort=i)
                for s, n, i in rows
            ]
        )
        made[name] = (template.pk, rows)
    return made


def _staff(stores: list[Store]) -> dict[int, dict[str, list[int]]]:
    staff: dict[int, dict[str, list[int]]] = {s.pk: defaultdict(list) for s in stores}
    roles = dict(
        User.roles.through.objects.filter(
            role__code__in=[SERVICE_ADVISOR, TECHNICIAN, STORE_MANAGER]
        ).values_list("user_id", "role__code")
    )
    links = User.stores.through.objects.filter(store__in=stores).order_by("user_id")
    for store_id, user_id in links.values_list("store_id", "user_id"):
        if user_id in roles:
            staff[store_id][roles[user_id]].append(user_id)
    return staff


def _as_ordinal(value) -> int:
    if isinstance(value, str):
        value = datetime.date.fromisoformat(value[:10])
    return value.toordinal()


# --- per-store vehicle data -----------------------------------------------------------------


class Fleet:
    """The store's vehicles with owner, plate and mileage history (piecewise linear)."""

    def __init__(self, store_id: int) -> None:
        v = Vehicle._meta.db_table
        c = Customer._meta.db_table
        r = MileageReading._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT v.id, v.owner_id, v.plate, v.registered_on, c.name, c.mobile, "  # noqa: S608
                f"c.kind, c.level, v.current_mileage, v.mileage_read_on "
                f"FROM {v} v JOIN {c} c ON c.id = v.owner_id "
                f"WHERE v.home_store_id = %s ORDER BY v.id",
                [store_id],
            )
            self.rows = cursor.fetchall()
            cursor.execute(
                f"SELECT r.vehicle_id, r.read_on, r.km FROM {r} r JOIN {v} v "  # noqa: S608
                f"ON v.id = r.vehicle_id WHERE v.home_store_id = %s "
                f"ORDER BY r.vehicle_id, r.read_on, r.km",
                [store_id],
            )
            readings = cursor.fetchall()
        self.index = {row[0]: i for i, row in enumerate(self.rows)}
        self.days: list[list[int]] = []
        self.kms: list[list[int]] = []
        for row in self.rows:
            reg = _as_ordinal(row[3]) if row[3] else 730000
            self.days.append([reg])
            self.kms.append([0])
        for vid, read_on, km in readings:
            i = self.index[vid]
            day = _as_ordinal(read_on)
            days, kms = self.days[i], self.kms[i]
            # The first reading of a day counts (the customers' demo caps reading dates at
            # today, so a vehicle may have several readings dated today).
            if day > days[-1] and km >= kms[-1]:
                days.append(day)
                kms.append(km)

    def registered(self, i: int) -> int:
        return self.days[i][0]

    def km_on(self, i: int, day: int) -> int:
        days, kms = self.days[i], self.kms[i]
        j = bisect.bisect_right(days, day) - 1
        if j < 0:
            return 0
        if j == len(days) - 1:  # after the last reading: the vehicle's average rate
            span = max(1, days[-1] - days[0])
            rate = max(15.0, kms[-1] / span) if len(days) > 1 else 40.0
            return kms[-1] + int(rate * (day - days[-1]))
        d0, d1, k0, k1 = days[j], days[j + 1], kms[j], kms[j + 1]
        return k0 + (k1 - k0) * (day - d0) // max(1, d1 - d0)

    def current(self, i: int) -> tuple[int, int]:
        """The vehicle's mileage as it stands: (day read, km)."""
        row = self.rows[i]
        if row[9] is None:
            return 0, row[8] or 0
        return _as_ordinal(row[9]), row[8] or 0


# --- the loader -----------------------------------------------------------------------------


def load(org: Organization, stores: list[Store], rng: random.Random, scale: str) -> dict:
    """Registered in autocrm.core.demo.EXTENSIONS (after the customers' loader)."""
    started = time.perf_counter()
    plan = PLAN[scale]
    postgres = connection.vendor == "postgresql"
    clock = Clock("+00" if postgres else "")
    now = timezone.now()
    today = timezone.localdate().toordinal()
    now_ts = now.date().toordinal() * 1440 + now.hour * 60 + now.minute

    by_code, packages, store_prices = _catalog(org, stores)
    templates = _templates(org)
    ServiceSettings.objects.bulk_create(
        [
            ServiceSettings(
                store=s,
                hourly_rate=150 if s.city in TIER1 else 120,
                opens_at=datetime.time(9 if s.kind == "audio" else 8, 30),
                closes_at=datetime.time(19 if s.kind == "audio" else 18),
                slot_capacity=2 if s.kind == "audio" else 3,
                bays={"audio": 3, "dealer": 8}.get(s.kind, 4),
                warranty={k: list(v) for k, v in WARRANTY.items()},
                warranty_terms="质量保证期自竣工出厂之日起计算，里程和日期以先到者为准。",
            )
            for s in stores
        ]
    )
    Stage.objects.bulk_create(
        [
            Stage(org=org, store=s, name=n, color=c, target_minutes=t, sort=i)
            for s in stores
            for i, (n, c, t) in enumerate(DEFAULT_STAGES, 1)
        ]
    )
    stages = defaultdict(list)
    for pk, store_id in Stage.objects.filter(org=org).order_by("sort").values_list("pk", "store"):
        stages[store_id].append(pk)
    staff = _staff(stores)
    setup_s = time.perf_counter() - started

    writer = TimedWriter()
    ids = {m: writer.next_id(m) for m in COLUMNS if m not in (WorkOrderCounter,)}
    ids.pop(WorkOrderLine.technicians.through, None)
    buffers = Buffers(writer, {m: [_c for _c in _cols_of(m)] for m in COLUMNS})
    PENDING.clear()
    if postgres:
        # Check foreign keys row by row rather than queueing millions of deferred checks
        # (memory), which would also forbid CREATE INDEX before the commit.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    dropped = _drop_indexes(REINDEX)
    # Visit figures are set from the work orders below; customers without any start from zero.
    t0 = time.perf_counter()
    Customer.objects.filter(org=org).update(
        visit_count=0, lifetime_spend=0, first_visit_at=None, last_visit_at=None
    )
    reset_s = time.perf_counter() - t0

    # Line templates: everything a line copies from its catalog item.
    items = {}
    for code, obj in by_code.items():
        if isinstance(obj, LabourItem):
            items[code] = (
                "labour",
                obj.pk,
                None,
                code,
                obj.name,
                "",
                "",
                "",
                obj.category,
                100,
                int(obj.price * 100),
                obj.repair_class,
                int(obj.hours * 100),
            )
        else:
            items[code] = (
                "part",
                None,
                obj.pk,
                code,
                obj.name,
                obj.brand,
                obj.spec,
                obj.unit,
                "material",
                100,
                int(obj.price * 100),
                None,
                0,
            )
    jobs = []
    for name, pkg, complaint, weights, slots in JOBS:
        rclass = max(
            (items[c if isinstance(c, str) else c[0]][11] or "minor" for c, _q in slots),
            key=REPAIR_RANK.get,
        )
        if pkg:
            rclass = next(p[2] for p in PACKAGES if p[0] == pkg)
        jobs.append((name, packages[pkg].pk if pkg else None, complaint, weights, slots, rclass))
    job_by_name = {j[0]: j for j in jobs}
    kind_index = {"repair": 0, "audio": 1, "dealer": 2}

    stats = defaultdict(int)
    total_orders = plan["orders"]
    weights = [0.7 + 0.6 * rng.random() for _ in stores]
    share = [int(total_orders * w / sum(weights)) for w in weights]
    share[-1] += total_orders - sum(share)
    report_every = max(1, len(stores) // 10)

    python_days = plan.get("python_days", plan["days"])
    history = None
    if python_days < plan["days"]:
        from autocrm.service import demo_history

        older = [s * (plan["days"] - python_days) // plan["days"] for s in share]
        share = [s - o for s, o in zip(share, older, strict=True)]
        print("  工单历史 / older work orders (set-based) …", flush=True)
        with trusted_bulk_load():
            history = demo_history.load(
                org_id=org.pk,
                stores=stores,
                counts=older,
                rng=rng,
                first_day=today - plan["days"],
                end_day=today - python_days,
                today=today,
                staff=staff,
                items=items,
                jobs=jobs,
                job_by_name=job_by_name,
                ids=ids,
                writer=writer,
            )
        for model in ids:
            ids[model] = max(ids[model], writer.next_id(model))
        stats["orders"] += history["counts"].get(WorkOrder, 0)
        for label, seconds in history["timing"].items():
            print(f"    {label:<34} {seconds:7.1f} s", flush=True)

    for s_idx, store in enumerate(stores):
        _load_store(
            store=store,
            org_id=org.pk,
            count=share[s_idx],
            plan=plan,
            rng=rng,
            clock=clock,
            today=today,
            now_ts=now_ts,
            staff=staff[store.pk],
            stages=stages[store.pk],
            items=items,
            jobs=jobs,
            job_by_name=job_by_name,
            kind=kind_index.get(store.kind, 0),
            tier1=store.city in TIER1,
            template=templates["音响改装检查" if store.kind == "audio" else "接车检查"],
            ids=ids,
            buffers=buffers,
            stats=stats,
            postgres=postgres,
        )
        if len(stores) > 1 and (s_idx + 1) % report_every == 0:
            print(
                f"  工单 / work orders: store {s_idx + 1}/{len(stores)}, "
                f"{stats['orders']:,} orders, {time.perf_counter() - started:.0f} s",
                flush=True,
            )
    buffers.flush()
    t0 = time.perf_counter()
    _apply_updates()
    if history:
        for label, seconds in demo_history.finish(org.pk).items():
            print(f"    {label:<34} {seconds:7.1f} s", flush=True)
    _fill_sources(org.pk)
    stats["update_ms"] += int((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    _restore_indexes(dropped)
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    index_s = time.perf_counter() - t0
    writer.reset_sequences()
    if postgres:
        with connection.cursor() as cursor:
            for model in [*REINDEX, Customer, Vehicle, StageVisit]:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
    # Last writer of readings and last services: predict every vehicle's next service, set-based.
    t0 = time.perf_counter()
    predicted = maintenance.refresh()
    print(
        f"  保养预测 / maintenance predictions: {predicted:,} vehicles "
        f"{time.perf_counter() - t0:.2f} s",
        flush=True,
    )
    for model, n in writer.counts.items():
        if hasattr(model, "scope_org"):
            audit.record_bulk(model, n, org_id=org.pk, note=f"demo data ({scale})")
    total_s = time.perf_counter() - started
    stats["update_ms"] += int(reset_s * 1000)
    _print_timing(writer, setup_s, index_s, stats, total_s)
    return {
        "catalog items": len(LABOUR) + len(PARTS),
        "store prices": store_prices,
        "appointments": writer.counts.get(Appointment, 0),
        "work orders": writer.counts.get(WorkOrder, 0),
        "work order lines": writer.counts.get(WorkOrderLine, 0),
        "payments": writer.counts.get(Payment, 0),
        "surveys": writer.counts.get(Survey, 0),
    }


def _cols_of(model) -> list[str]:
    return _cols(model, *COLUMNS[model])


def _print_timing(writer, setup_s, index_s, stats, total_s) -> None:
    print(f"  工单演示数据 / shop-floor demo: {total_s:.1f} s in all", flush=True)
    print(f"    set-up (catalog, settings, stages) {setup_s:7.1f} s", flush=True)
    print(f"    updates of customers and vehicles  {stats['update_ms'] / 1000:7.1f} s")
    print(f"    rebuilding indexes                 {index_s:7.1f} s")
    inserted = sum(writer.seconds.values())
    python_s = total_s - inserted - index_s - setup_s - stats["update_ms"] / 1000
    print(f"    generating rows (Python)           {python_s:7.1f} s")
    for model, seconds in sorted(writer.seconds.items(), key=lambda kv: -kv[1]):
        n = writer.counts.get(model, 0)
        rate = n / seconds if seconds else 0
        print(
            f"    insert {model._meta.db_table:<32} {n:>11,} rows {seconds:7.1f} s ({rate:,.0f}/s)",
            flush=True,
        )


# --- indexes ---------------------------------------------------------------------------------


# --- one store ------------------------------------------------------------------------------


def _load_store(
    *,
    store,
    org_id,
    count,
    plan,
    rng,
    clock,
    today,
    now_ts,
    staff,
    stages,
    items,
    jobs,
    job_by_name,
    kind,
    tier1,
    template,
    ids,
    buffers,
    stats,
    postgres,
) -> None:
    fleet = Fleet(store.pk)
    if not fleet.rows:
        return
    ts = clock.ts
    add = buffers.add
    rand = rng.random

    # Cheaper than Random.randint / choice (no range checks), still driven by the seeded rng.
    def randint(a: int, b: int) -> int:
        return a + int(rand() * (b - a + 1))

    def choice(seq):
        return seq[int(rand() * len(seq))]

    store_id = store.pk
    code = store.code.upper()
    advisors = staff.get(SERVICE_ADVISOR) or staff.get(STORE_MANAGER) or [None]
    technicians = staff.get(TECHNICIAN) or advisors
    manager = (staff.get(STORE_MANAGER) or advisors)[0]
    template_id, template_rows = template
    labour_factor = 12 if tier1 else 10
    job_weights = [j[3][kind] for j in jobs]
    job_cum = []
    acc = 0.0
    for w in job_weights:
        acc += w
        job_cum.append(acc)
    upsells = [job_by_name[n] for n in (AUDIO_UPSELLS if kind == 1 else UPSELLS)]
    amounts: dict = {}  # (price, qty, discount) → (qty, price, pct, amount_c, gross_c)

    def priced(item, qty_h, pct):
        price_c = item[10] * labour_factor // 10 if item[0] == "labour" else item[10]
        key = (price_c, qty_h, pct)
        got = amounts.get(key)
        if got is None:
            gross = half_up(qty_h * price_c, 100)
            amount = half_up(qty_h * price_c * (100 - pct), 10_000)
            got = amounts[key] = (qty_h / 100, yuan(price_c), float(pct), amount, gross)
        return got

    # Which vehicles come back often: a loyalty weight per vehicle.
    n_vehicles = len(fleet.rows)
    vcum = []
    acc = 0.0
    for _ in range(n_vehicles):
        acc += choice((0.2, 0.5, 1.0, 1.0, 2.0, 4.0))
        vcum.append(acc)
    days = plan.get("python_days", plan["days"])
    start = today - days
    n_open = min(count // 3, randint(*OPEN_PER_STORE))
    n_hist = count - n_open
    picks = rng.choices(range(n_vehicles), cum_weights=vcum, k=count)
    orders = []  # (opened_ts, vehicle index, open?)
    for k, vi in enumerate(picks):
        first_day = max(start, fleet.registered(vi) + 7)
        if k < n_hist:
            day = randint(first_day, today - 1) if first_day < today else today - 1
            orders.append((day * 1440 + randint(30, 570), vi, False))
        else:
            for _try in range(6):
                day = today - choice((0, 0, 0, 1, 1, 2))
                t = day * 1440 + randint(30, 570)
                if t <= now_ts - 10:
                    break
            else:
                t = (today - 1) * 1440 + randint(30, 570)
            orders.append((t, vi, True))
    orders.sort()
    counters: dict[int, int] = defaultdict(int)
    customer_stats: dict[int, list] = {}
    vehicle_service: dict[int, tuple[int, int]] = {}
    vehicle_reading: dict[int, tuple[int, int]] = {}
    running_techs: set[int] = set()
    detail_from = today - plan["detail_days"]
    inspect_from = today - plan["inspect_days"]
    n_appointments_past = 0

    for opened, vi, is_open in orders:
        if len(buffers.rows[WorkOrderLine]) >= CHUNK:
            buffers.maybe_flush()
        vid, owner, plate, _reg, cname, mobile, ckind, level, _km, _on = fleet.rows[vi]
        day = opened // 1440
        counters[day] += 1
        number = f"{code}-{clock.day(day).replace('-', '')}-{counters[day]:03d}"
        wo_id = ids[WorkOrder]
        ids[WorkOrder] += 1
        advisor = advisors[wo_id % len(advisors)]
        mileage = fleet.km_on(vi, day)
        opened_s = ts(opened)
        # Status.
        if is_open:
            status = rng.choices(OPEN_STATUSES, OPEN_WEIGHTS)[0]
        elif rand() < 0.02:
            status = "cancelled"
        else:
            status = "settled"
        # Jobs and lines.
        picked = [rng.choices(jobs, cum_weights=job_cum)[0]]
        r = rand()
        if r < 0.3:
            picked.append(rng.choices(jobs, cum_weights=job_cum)[0])
            if r < 0.06:
                picked.append(rng.choices(jobs, cum_weights=job_cum)[0])
        proposals = []
        if rand() < 0.25:
            proposals.append(choice(upsells))
        pct = 0
        disc_by = None
        r = rand()
        if level in ("金卡", "VIP") or r < 0.12:
            pct = choice((5, 8, 10))
        elif r < 0.16:
            pct = choice((15, 20))
            disc_by = manager
        rclass = max((j[5] for j in picked), key=REPAIR_RANK.get)
        w_days, w_km = WARRANTY[rclass]
        lines = []  # (line id, item, qty_h, approval, job name, labour?)
        sort = 0
        hours_h = 0
        for group, jobs_in in ((0, picked), (1, proposals)):
            for job in jobs_in:
                for slot, qty in job[4]:
                    item = items[slot if isinstance(slot, str) else choice(slot)]
                    sort += 1
                    qty_h = item[9] * qty
                    if group == 0:
                        approval = "approved"
                    else:
                        approval = "approved" if rand() < 0.3 else choice(("declined", "deferred"))
                    lines.append((sort, item, qty_h, approval, job, group))
                    if item[0] == "labour" and approval == "approved":
                        hours_h += item[12] * qty
        if is_open and status in ("draft", "estimate"):
            lines = [(s, it, q, "proposed", j, g) for s, it, q, _a, j, g in lines]
            if status == "draft":
                lines = lines[: randint(0, len(lines))]
        elif status == "cancelled":
            lines = [(s, it, q, "declined", j, g) for s, it, q, _a, j, g in lines]
        # Timeline.
        work_min = max(30, hours_h * 60 // 100)
        promised = opened + work_min + 30
        promised -= promised % 30
        settled_ts = closed_ts = None
        if status == "settled":
            settled_ts = min(now_ts - 5, opened + int(work_min * (1.2 + rand())) + 20)
        approved_at = ts(opened + randint(5, 25))
        progress = "done"
        if is_open:
            progress = {"in_progress": None, "qc": "done", "ready": "done"}.get(status, "pending")
        # Lines → rows and totals.
        labour_c = parts_c = other_c = disc_c = 0
        line_ids = []
        cust_name = cname if ckind == "person" else "车队经办人"
        for sort, item, qty_h, approval, job, group in lines:
            lid = ids[WorkOrderLine]
            ids[WorkOrderLine] += 1
            quantity, unit_price, dpct, amount_c, gross_c = priced(
                item, qty_h, pct if group == 0 or approval == "approved" else 0
            )
            category = item[8]
            if approval == "approved":
                if category == "material":
                    parts_c += amount_c
                elif category == "other":
                    other_c += amount_c
                else:
                    labour_c += amount_c
                disc_c += gross_c - amount_c
            decided = approval in ("approved", "declined", "deferred")
            line_progress = progress
            if line_progress is None:
                line_progress = choice(("pending", "working", "done"))
            if approval != "approved":
                line_progress = "pending"
            add(
                WorkOrderLine,
                (
                    lid,
                    wo_id,
                    item[0],
                    item[1],
                    item[2],
                    job[1],
                    item[3],
                    item[4],
                    item[5],
                    item[6],
                    item[7],
                    category,
                    quantity,
                    unit_price,
                    dpct if gross_c != amount_c else 0.0,
                    yuan(amount_c),
                    disc_by if gross_c != amount_c else None,
                    False,
                    approval,
                    ("in_person" if group == 0 else choice(("phone", "link", "in_person")))
                    if decided
                    else "",
                    cust_name if decided else "",
                    approved_at if decided else None,
                    choice(DECLINE_REASONS) if approval in ("declined", "deferred") else "",
                    choice(URGENCIES) if approval in ("declined", "deferred") else "",
                    line_progress,
                    sort,
                    opened_s,
                ),
            )
            line_ids.append((lid, item, qty_h, approval, line_progress, group, job, amount_c))
        total_c = labour_c + parts_c + other_c
        # Payments and closing.
        paid_c = 0
        if status == "settled":
            settled_day = (settled_ts + 480) // 1440  # the local (Shanghai) date
            receivable = total_c > 0 and ((ckind == "company" and rand() < 0.5) or rand() < 0.015)
            pay_at = ts(settled_ts)
            if total_c > 0 and not receivable:
                if rand() < 0.12 and total_c >= 200:
                    first = half_up(total_c * randint(20, 80), 100)
                    split = [(choice(("card", "cash")), first), ("wechat", total_c - first)]
                else:
                    split = [(rng.choices(PAY_METHODS, PAY_WEIGHTS)[0], total_c)]
            elif receivable and rand() < 0.3:
                split = [("wechat", half_up(total_c, 2))]  # a deposit, the rest on account
            else:
                split = []
            for method, amount_c in split:
                pid = ids[Payment]
                ids[Payment] += 1
                reference = "" if method == "cash" else f"{method[:2].upper()}{pid:014d}"
                add(
                    Payment,
                    (
                        pid,
                        org_id,
                        store_id,
                        wo_id,
                        method,
                        "payment",
                        yuan(amount_c),
                        reference,
                        advisor,
                        pay_at,
                    ),
                )
                paid_c += amount_c
            if paid_c == total_c and settled_ts < now_ts - 2 * 1440:
                status = "closed"
                closed_ts = min(now_ts - 1, settled_ts + randint(10, 2 * 1440))
            # Customer and vehicle figures.
            st = customer_stats.get(owner)
            if st is None:
                customer_stats[owner] = [1, total_c, settled_ts, settled_ts]
            else:
                st[0] += 1
                st[1] += total_c
                st[2] = min(st[2], settled_ts)
                st[3] = max(st[3], settled_ts)
            vehicle_service[vid] = (settled_day, mileage)
        if status != "cancelled":
            vehicle_reading[vid] = (day, mileage)
            rid = ids[MileageReading]
            ids[MileageReading] += 1
            add(
                MileageReading,
                (rid, vid, mileage, clock.day(day), "visit", number, advisor, opened_s),
            )
        # Appointment (a fifth of the visits were booked).
        appointment_id = None
        if rand() < 0.2:
            appointment_id = ids[Appointment]
            ids[Appointment] += 1
            slot = opened - opened % 60
            online = rand() < 0.35
            add(
                Appointment,
                (
                    appointment_id,
                    org_id,
                    store_id,
                    owner,
                    vid,
                    cname,
                    mobile,
                    plate,
                    picked[0][1],
                    "",
                    ts(slot),
                    "arrived",
                    "online" if online else "staff",
                    None if online else advisor,
                    ts(slot - randint(60, 3 * 1440)),
                    opened_s,
                    "",
                    ts(slot - randint(3 * 1440, 7 * 1440)),
                    opened_s,
                ),
            )
            n_appointments_past += 1
        # Stage and stage visits for the job board.
        stage_id = stage_at = None
        if is_open and stages:
            path_end = choice(STAGE_OF[status])
            path = [i for i in range(path_end + 1) if i != 4 or path_end == 4]
            span = max(len(path), (now_ts - opened))
            entered = opened
            for n, idx in enumerate(path):
                left = (
                    None if n == len(path) - 1 else entered + randint(5, max(6, span // len(path)))
                )
                add(
                    StageVisit,
                    (
                        ids[StageVisit],
                        wo_id,
                        stages[idx],
                        ts(entered),
                        ts(min(left, now_ts - 1)) if left else None,
                        advisor,
                    ),
                )
                ids[StageVisit] += 1
                stage_id, stage_at = stages[idx], entered
                if left:
                    entered = min(left, now_ts - 1)
        stats["orders"] += 1
        add(
            WorkOrder,
            (
                wo_id,
                org_id,
                store_id,
                number,
                owner,
                vid,
                appointment_id,
                advisor,
                status,
                mileage,
                "；".join(dict.fromkeys(j[2] for j in picked)),
                ts(promised),
                opened_s,
                ts(settled_ts),
                ts(closed_ts),
                rclass,
                w_days,
                w_km,
                rand() < 0.3 and parts_c > 0,
                "{}",
                yuan(labour_c),
                yuan(parts_c),
                yuan(other_c),
                yuan(disc_c),
                yuan(total_c),
                yuan(tax_of(total_c)),
                yuan(paid_c),
                stage_id,
                ts(stage_at),
                choice(CANCEL_REASONS) if status == "cancelled" else "",
                1 + len(line_ids) // 2,
                advisor,
                opened_s,
                ts(closed_ts or settled_ts or opened),
            ),
        )
        # Recommendations from declined or deferred work, one per suggested job.
        seen_jobs = set()
        for lid, _item, _q, approval, _p, group, job, _amount in line_ids:
            if group != 1 or approval not in ("declined", "deferred") or job[0] in seen_jobs:
                continue
            seen_jobs.add(job[0])
            quoted = sum(x[7] for x in line_ids if x[6] is job and x[5] == 1)
            age = today - day
            state = "open" if age < 60 or rand() < 0.5 else "dismissed"
            add(
                Recommendation,
                (
                    ids[Recommendation],
                    org_id,
                    store_id,
                    vid,
                    owner,
                    lid,
                    job[0],
                    yuan(quoted),
                    choice(DECLINE_REASONS),
                    choice(URGENCIES),
                    state,
                    ts(opened + randint(7, 90) * 1440) if state != "open" else None,
                    opened_s,
                    opened_s,
                ),
            )
            ids[Recommendation] += 1
        # Technicians, time and QC for recent work.
        worked = status in ("settled", "closed", "in_progress", "qc", "ready")
        if worked and day >= detail_from:
            t = opened + 15
            for lid, item, qty_h, approval, line_progress, _g, _j, _a in line_ids:
                if item[0] != "labour" or approval != "approved":
                    continue
                tech = technicians[(lid + vi) % len(technicians)]
                add(WorkOrderLine.technicians.through, (lid, tech))
                if line_progress == "pending":
                    continue
                minutes = max(6, item[12] * qty_h * 60 // 10_000 * randint(80, 130) // 100)
                end = t + minutes
                if line_progress == "working" or end > now_ts:
                    if tech in running_techs:
                        continue
                    running_techs.add(tech)
                    end = None
                add(TimeEntry, (ids[TimeEntry], wo_id, lid, tech, ts(t), ts(end), ""))
                ids[TimeEntry] += 1
                t = (end or t) + randint(0, 20)
            if status in ("settled", "closed", "ready") and labour_c > 0:
                inspector = manager
                qc_at = settled_ts - 10 if settled_ts else min(now_ts - 1, t + 5)
                if rand() < 0.05:
                    add(
                        QualityCheck,
                        (
                            ids[QualityCheck],
                            wo_id,
                            inspector,
                            False,
                            QC_FAIL,
                            "有油渍",
                            ts(qc_at - 40),
                        ),
                    )
                    ids[QualityCheck] += 1
                add(QualityCheck, (ids[QualityCheck], wo_id, inspector, True, QC_OK, "", ts(qc_at)))
                ids[QualityCheck] += 1
        # Check-in inspection for recent visits.
        if status != "draft" and day >= inspect_from and rand() < 0.7:
            iid = ids[Inspection]
            ids[Inspection] += 1
            add(
                Inspection,
                (
                    iid,
                    wo_id,
                    template_id,
                    technicians[wo_id % len(technicians)],
                    ts(opened + 2),
                    ts(opened + 12),
                ),
            )
            for section, name, sort in template_rows:
                r = rand()
                rating = "ok" if r < 0.85 else "soon" if r < 0.93 else "now" if r < 0.96 else "na"
                add(
                    InspectionResult,
                    (
                        ids[InspectionResult],
                        iid,
                        section,
                        name,
                        rating,
                        RATING_NOTES.get(rating, ""),
                        sort,
                    ),
                )
                ids[InspectionResult] += 1
        # Survey after about a quarter of the settled visits.
        if settled_ts and rand() < 0.25:
            submitted = settled_ts + randint(60, 3 * 1440)
            if submitted < now_ts:
                r = rand()
                if r < 0.8:
                    nps, dims = randint(9, 10), [randint(4, 5) for _ in range(4)]
                elif r < 0.92:
                    nps, dims = randint(7, 8), [choice(PASSIVE_STARS) for _ in range(4)]
                else:
                    nps, dims = randint(0, 6), [randint(1, 4) for _ in range(4)]
                low = nps <= 6 or min(dims) <= 3
                handled = low and submitted < now_ts - 3 * 1440 and rand() < 0.9
                reasons = json.dumps(rng.sample(LOW_REASON_CODES, randint(1, 2))) if low else "[]"
                add(
                    Survey,
                    (
                        ids[Survey],
                        org_id,
                        store_id,
                        wo_id,
                        owner,
                        nps,
                        *dims,
                        reasons,
                        choice(LOW_COMMENTS) if low else choice(HAPPY_COMMENTS),
                        low,
                        ts(submitted),
                        ts(submitted + randint(30, 1440)) if handled else None,
                        manager if handled else None,
                        choice(HANDLING_NOTES) if handled else "",
                    ),
                )
                ids[Survey] += 1

    # Bookings that did not turn into visits, and the coming weeks' calendar.
    per_day = max(1, count // max(1, days))
    for _n in range(n_appointments_past // 10):
        day = randint(today - days, today - 1)
        vi = randint(0, n_vehicles - 1)
        status = choice(("no_show", "cancelled", "cancelled"))
        _appointment(add, ids, rng, clock, org_id, store_id, fleet.rows[vi], day, status, advisors)
    for offset in range(0, 15):
        for _n in range(randint(per_day // 5, per_day // 3 + 1)):
            vi = randint(0, n_vehicles - 1)
            slot = (today + offset) * 1440 + 60 * randint(1, 9)
            if slot <= now_ts:
                continue
            status = choice(("booked", "confirmed", "confirmed"))
            aid = _appointment(
                add, ids, rng, clock, org_id, store_id, fleet.rows[vi], slot, status, advisors
            )
            row = fleet.rows[vi]
            if offset <= 2:
                add(
                    OutboxMessage,
                    (
                        ids[OutboxMessage],
                        org_id,
                        store_id,
                        row[1],
                        "sms",
                        row[5],
                        "appointment_reminder",
                        f"【{store.name}】{row[4]}您好，您预约了{clock.ts(slot + 480)[:16]}到店，"
                        f"车牌{row[2]}。如需改期请致电门店。",
                        "queued",
                        ts(slot - 1440),
                        f"appointment:{aid}",
                        ts(now_ts),
                    ),
                )
                ids[OutboxMessage] += 1
    for day, last in sorted(counters.items()):
        add(WorkOrderCounter, (store_id, clock.day(day), last))

    # Customer visit figures and vehicles' last service and mileage.
    buffers.flush()
    t0 = time.perf_counter()
    customer_rows = [
        (st[0], yuan(st[1]), ts(st[2]), ts(st[3]), cid)
        for cid, st in sorted(customer_stats.items())
    ]
    _update(
        Customer,
        ["visit_count", "lifetime_spend", "first_visit_at", "last_visit_at"],
        customer_rows,
        postgres,
    )
    vehicle_rows = []
    for i, row in enumerate(fleet.rows):
        vid = row[0]
        service = vehicle_service.get(vid)
        reading = vehicle_reading.get(vid)
        cur_day, cur_km = fleet.current(i)
        if reading and reading[0] > cur_day:
            cur_day, cur_km = reading
        if service is None and reading is None:
            continue
        vehicle_rows.append(
            (
                clock.day(service[0]) if service else None,
                service[1] if service else None,
                cur_km,
                clock.day(cur_day) if cur_day else None,
                vid,
            )
        )
    _update(
        Vehicle,
        ["last_service_on", "last_service_km", "current_mileage", "mileage_read_on"],
        vehicle_rows,
        postgres,
    )
    stats["update_ms"] += int((time.perf_counter() - t0) * 1000)


def _appointment(add, ids, rng, clock, org_id, store_id, row, when, status, advisors) -> int:
    """A booking without a visit; ``when`` is a day (past) or a time in minutes (future)."""
    slot = when if when > 10**8 else when * 1440 + 60 * rng.randint(1, 9)
    vid, owner, plate, _reg, name, mobile, _kind, _level, _km, _on = row
    online = rng.random() < 0.4
    aid = ids[Appointment]
    ids[Appointment] += 1
    booked = slot - rng.randint(60, 5 * 1440)
    add(
        Appointment,
        (
            aid,
            org_id,
            store_id,
            owner,
            vid,
            name,
            mobile,
            plate,
            None,
            "",
            clock.ts(slot),
            status,
            "online" if online else "staff",
            None if online else advisors[0],
            clock.ts(booked + 30) if status in ("confirmed", "no_show") else None,
            None,
            "客户有事改期" if status == "cancelled" else "",
            clock.ts(booked),
            clock.ts(booked + 30),
        ),
    )
    return aid


def _update(model, columns: list[str], rows: list[tuple], postgres: bool) -> None:
    """Set columns by id: ``executemany`` on SQLite; on PostgreSQL COPY into a temporary
    table, applied by one UPDATE … FROM in ``_apply_updates`` once every store is done."""
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        if not postgres:
            sets = ", ".join(f"{connection.ops.quote_name(c)} = %s" for c in columns)
            cursor.executemany(f"UPDATE {table} SET {sets} WHERE id = %s", rows)  # noqa: S608
            return
        cols = ", ".join(columns)
        temp = f"demo_upd_{model._meta.model_name}"
        if (model, temp) not in PENDING:
            cursor.execute(
                f"CREATE TEMP TABLE {temp} ON COMMIT DROP AS "  # noqa: S608
                f"SELECT {cols}, id FROM {table} WITH NO DATA"
            )
            PENDING[(model, temp)] = columns
        with cursor.cursor.copy(f"COPY {temp} ({cols}, id) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


PENDING: dict = {}


def _fill_sources(org_id: int) -> int:
    """Every generated work order came through its customer's source channel: one UPDATE …
    FROM (a correlated subquery per order took minutes at five million orders)."""
    w = connection.ops.quote_name(WorkOrder._meta.db_table)
    c = connection.ops.quote_name(Customer._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {w} SET source_id = c.source_id FROM {c} c "  # noqa: S608
            f"WHERE c.id = {w}.customer_id AND {w}.org_id = %s AND {w}.source_id IS NULL "
            f"AND c.source_id IS NOT NULL",
            [org_id],
        )
        return cursor.rowcount


def _apply_updates() -> None:
    with connection.cursor() as cursor:
        for (model, temp), columns in PENDING.items():
            table = connection.ops.quote_name(model._meta.db_table)
            sets = ", ".join(f"{c} = t.{c}" for c in columns)
            cursor.execute(f"ANALYZE {temp}")
            cursor.execute(f"UPDATE {table} SET {sets} FROM {temp} t WHERE {table}.id = t.id")  # noqa: S608
    PENDING.clear()
