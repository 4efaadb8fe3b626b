"""Every word on the pages in English and Simplified Chinese, and the language switch."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import streamlit as st

from emergency.config import load_settings

LANGUAGE_KEY = "lang"
LANGUAGE_LABELS = {"en": "English", "zh": "简体中文"}

STRINGS: dict[str, tuple[str, str]] = {
    "app.title": ("Outage Desk", "停电应急指挥"),
    "app.demo_banner": (
        "Demo territory: all people, places and outages are invented.",
        "演示区域：所有人员、地点和停电事件均为虚构。",
    ),
    "nav.public": ("Power status", "供电状态"),
    "nav.dispatcher": ("Dispatcher console", "调度指挥台"),
    "nav.login": ("Staff login", "员工登录"),
    "nav.logout": ("Log out", "退出登录"),
    "nav.section.public": ("Public", "公众"),
    "nav.section.staff": ("Control room", "调度指挥"),
    "nav.section.account": ("Account", "账户"),
    "lang.label": ("Language", "语言"),
    "who.signed_in": ("Signed in as {user} ({role})", "已登录：{user}（{role}）"),
    "role.dispatcher": ("dispatcher", "调度员"),
    "role.manager": ("manager", "管理人员"),
    "role.admin": ("administrator", "系统管理员"),
    "login.title": ("Staff login", "员工登录"),
    "login.username": ("Username", "用户名"),
    "login.password": ("Password", "密码"),
    "login.role": ("Role", "角色"),
    "login.submit": ("Log in", "登录"),
    "login.failed": (
        "Wrong username or password, or the account is locked. After 5 failed attempts an account "
        "is locked for 15 minutes.",
        "用户名或密码错误，或账户已锁定。连续5次失败后账户锁定15分钟。",
    ),
    "login.missing": ("Enter a username and a password.", "请输入用户名和密码。"),
    "login.demo_accounts": ("Demo accounts", "演示账户"),
    "login.demo_note": (
        "This is a demo database; these accounts exist only here.",
        "这是演示数据库，这些账户仅在此存在。",
    ),
    "login.already": ("You are logged in as {user}.", "您已登录为 {user}。"),
    "denied": ("This page is for control-room staff. Please log in.", "此页面仅供调度人员使用，请先登录。"),
    "no_db": (
        "No Outage Desk database is set up yet. Run `python -m emergency init` first.",
        "尚未建立数据库，请先运行 `python -m emergency init`。",
    ),
    "nav.users": ("Users", "用户管理"),
    "users.title": ("Staff accounts", "员工账户"),
    "users.name": ("Name", "姓名"),
    "users.active": ("Active", "启用"),
    "users.locked_until": ("Locked until", "锁定至"),
    "users.last_login": ("Last login", "最近登录"),
    "users.add": ("Add user", "添加用户"),
    "users.added": ("Added {user}.", "已添加 {user}。"),
    "users.manage": ("Reset password or disable", "重置密码或停用"),
    "users.new_password": ("New password", "新密码"),
    "users.password_rule": ("At least 10 characters.", "至少10个字符。"),
    "users.confirm": ("I am sure", "我确认"),
    "users.confirm_first": ("Tick “I am sure” first.", "请先勾选“我确认”。"),
    "users.reset": ("Reset password", "重置密码"),
    "users.reset_done": (
        "Password reset for {user}; the account is unlocked.",
        "已重置 {user} 的密码，账户已解锁。",
    ),
    "users.disable": ("Disable", "停用"),
    "users.disabled": ("Disabled {user}.", "已停用 {user}。"),
    "public.title": ("Power status", "供电状态"),
    "public.subtitle": ("Outages and restoration across {name}", "{name}停电与恢复供电情况"),
    "public.customers_out": ("Customers without power", "停电用户"),
    "public.share_with_power": ("Customers with power", "有电用户比例"),
    "public.outages": ("Active outages", "当前停电事件"),
    "public.crews_working": ("Crews working", "抢修队伍在岗"),
    "public.updated": ("Last updated {at}; next update by {next}", "最近更新 {at}；下次更新不晚于 {next}"),
    "public.map_caption": (
        "Shaded areas have outages; district colour shows the share of customers without power. "
        "Areas under {n} customers are counted but not drawn.",
        "阴影区域为停电区域；行政区颜色表示停电用户比例。少于{n}户的停电区域计入统计但不在地图上显示。",
    ),
    "public.districts": ("By district", "按区域"),
    "public.col.district": ("District", "区域"),
    "public.col.type": ("Area type", "区域类型"),
    "public.col.served": ("Customers served", "服务用户"),
    "public.col.out": ("Without power", "停电用户"),
    "public.col.share": ("With power", "有电比例"),
    "public.col.outages": ("Outages", "停电事件"),
    "public.all_clear": ("No outages are known at the moment.", "目前没有已知的停电。"),
    "area.urban": ("urban", "城区"),
    "area.rural": ("rural", "农村"),
    "area.remote": ("remote", "偏远"),
    "status.reported": ("Reported, being assessed", "已报告，正在评估"),
    "status.assessing": ("Confirmed, being assessed", "已确认，正在评估"),
    "status.crew_assigned": ("Crew assigned", "已派抢修队伍"),
    "status.crew_on_site": ("Crew on site", "抢修队伍已到场"),
    "status.restored": ("Restored", "已恢复供电"),
    "popup.status": ("Status", "状态"),
    "popup.customers_out": ("Customers out", "停电用户"),
    "popup.since": ("Since", "停电时间"),
    "popup.etr": ("Estimated restoration", "预计恢复时间"),
    "popup.etr_reassessed": ("Being reassessed", "正在重新评估"),
    "popup.etr_none": ("Not yet estimated", "尚未估计"),
    "dispatch.title": ("Dispatcher console", "调度指挥台"),
    "board.title": ("SLA board", "时限看板"),
    "board.urgency": ("Urgency", "紧急程度"),
    "board.clock": ("Clock", "时限"),
    "board.dispatch_clock": ("Dispatch (10 min)", "派工（10分钟）"),
    "board.on_site_clock": ("On site (30 min)", "到场（30分钟）"),
    "board.district": ("District", "区域"),
    "board.hazard": ("Hazard", "危险"),
    "board.crew": ("Crew", "队伍"),
    "board.filter_district": ("Districts", "区域筛选"),
    "board.filter_state": ("States", "状态筛选"),
    "urgency.breached": ("breached", "已超时"),
    "urgency.at_risk": ("at risk", "即将超时"),
    "urgency.on_track": ("on track", "正常"),
    "urgency.done": ("crew on site", "已到场"),
    "clock.left": ("{time} left", "剩余 {time}"),
    "clock.over": ("{time} over", "超时 {time}"),
    "clock.met": ("met", "已达标"),
    "clock.missed": ("missed", "未达标"),
    "clock.on_track": ("on track", "正常"),
    "clock.at_risk": ("at risk", "即将超时"),
    "clock.breached": ("breached", "已超时"),
    "alert.clocks": (
        "{breached} outage(s) past a clock, {at_risk} about to be: {ids}",
        "{breached} 个停电事件已超时，{at_risk} 个即将超时：{ids}",
    ),
    "alert.breached": ("Outage {id}: a clock has breached", "停电事件 {id}：已超时"),
    "alert.at_risk": ("Outage {id}: a clock is about to breach", "停电事件 {id}：即将超时"),
    "detail.pick": (
        "Select an outage on the board or the map to see its reports, crews and actions.",
        "在看板或地图上选择一个停电事件，查看报修、队伍和操作。",
    ),
    "detail.choose": ("Outage", "停电事件"),
    "detail.title": ("Outage {id} · {device} ({kind})", "停电事件 {id} · {device}（{kind}）"),
    "detail.caption": (
        "{state} · {district} · {customers} customers out · {reports} reports · first report {since}",
        "{state} · {district} · 停电用户 {customers} · 报修 {reports} · 首次报修 {since}",
    ),
    "detail.hazard": (
        "Hazard reported (wires down or danger): make safe first.",
        "有危险报告（导线落地等）：先行处置安全。",
    ),
    "detail.nested": (
        "Nested outage: still out after outage {parent} was restored.",
        "嵌套停电：停电事件 {parent} 恢复后仍停电。",
    ),
    "detail.deadline": ("Deadline {at}", "截止 {at}"),
    "detail.tab.crews": ("Crews and actions", "队伍与操作"),
    "detail.tab.reports": ("Reports", "报修"),
    "detail.tab.important": ("Important users", "重要用户"),
    "detail.tab.history": ("ETR and restoration history", "预计恢复与复电记录"),
    "detail.no_crews": ("No crew is free for this outage.", "没有可派的抢修队伍。"),
    "detail.no_important": ("No important users are affected.", "没有重要用户受影响。"),
    "detail.assignment": ("Crew {crew}: {status}, ETA {eta}", "队伍 {crew}：{status}，预计到达 {eta}"),
    "detail.etr_change": (
        "{at}: ETR {etr} ({source}, {confidence}) by {by}",
        "{at}：预计恢复 {etr}（{source}，{confidence}）设置人 {by}",
    ),
    "detail.step": ("{at}: {n} customers restored by {by}", "{at}：恢复 {n} 户，操作人 {by}"),
    "crew.col.crew": ("Crew", "队伍"),
    "crew.col.kind": ("Kind", "类型"),
    "crew.col.km": ("Road km", "路程（公里）"),
    "crew.col.eta": ("ETA", "预计到达"),
    "crew.col.clock": ("Meets 30 min", "30分钟内到场"),
    "crew.col.why": ("Why", "说明"),
    "report.time": ("Time", "时间"),
    "report.channel": ("Channel", "渠道"),
    "report.kind": ("Kind", "类型"),
    "report.account": ("Account", "户号"),
    "report.description": ("Description", "描述"),
    "report.contact": ("Contact", "联系方式"),
    "important.name": ("Name", "名称"),
    "important.grade": ("Grade", "等级"),
    "important.kind": ("Kind", "类别"),
    "important.backup": ("Backup hours", "自备电源（小时）"),
    "important.contact": ("Contact (staff only)", "联系人（仅限员工）"),
    "action.yes": ("Yes, do it", "确定执行"),
    "action.no": ("No", "取消"),
    "action.refused": ("Not done: {reason}", "未执行：{reason}"),
    "action.choose_crew": ("Crew to dispatch", "派遣队伍"),
    "action.dispatch": ("Dispatch", "派工"),
    "action.en_route": ("En route", "出发"),
    "action.on_site": ("On site", "到场"),
    "action.confirm": ("Confirm outage", "确认停电"),
    "action.etr": ("Set ETR", "设置预计恢复时间"),
    "action.set_etr": ("Set", "设置"),
    "action.restore": ("Restore", "恢复供电"),
    "action.restore_now": ("Restore these customers", "恢复这些用户"),
    "action.cancel": ("Cancel this outage", "取消此停电事件"),
    "action.cancel_now": ("Cancel outage", "取消停电事件"),
    "ask.dispatch": (
        "Dispatch crew {crew} to outage {id} (ETA {eta})?",
        "派遣队伍 {crew} 前往停电事件 {id}（预计 {eta} 到达）？",
    ),
    "ask.en_route": ("Mark crew {crew} en route?", "标记队伍 {crew} 已出发？"),
    "ask.on_site": ("Mark crew {crew} on site?", "标记队伍 {crew} 已到场？"),
    "ask.confirm": ("Confirm outage {id}?", "确认停电事件 {id}？"),
    "ask.etr": ("Set the ETR of outage {id} to {etr}?", "将停电事件 {id} 的预计恢复时间设为 {etr}？"),
    "ask.restore": ("Restore everyone still out in outage {id}?", "恢复停电事件 {id} 的全部停电用户？"),
    "ask.restore_step": (
        "Restore {n} customers of outage {id} (a step)?",
        "分步恢复停电事件 {id} 的 {n} 户？",
    ),
    "ask.cancel": (
        "Cancel outage {id}? It stays on record with the reason.",
        "取消停电事件 {id}？记录将保留原因。",
    ),
    "ask.plan": ("Dispatch the {n} crews of the plan?", "按计划派遣 {n} 支队伍？"),
    "done.confirm": ("Outage {id} confirmed.", "停电事件 {id} 已确认。"),
    "done.dispatch": (
        "Crew {crew} dispatched to outage {id}, ETA {eta}.",
        "队伍 {crew} 已派往停电事件 {id}，预计 {eta} 到达。",
    ),
    "done.en_route": ("Crew {crew} is en route.", "队伍 {crew} 已出发。"),
    "done.on_site": ("Crew {crew} is on site.", "队伍 {crew} 已到场。"),
    "done.etr": ("ETR of outage {id} set to {etr}.", "停电事件 {id} 的预计恢复时间已设为 {etr}。"),
    "done.restore": ("Outage {id} restored.", "停电事件 {id} 已恢复供电。"),
    "done.restore_step": (
        "{n} customers of outage {id} restored; {left} still out.",
        "停电事件 {id} 已恢复 {n} 户，仍有 {left} 户停电。",
    ),
    "done.cancel": ("Outage {id} cancelled.", "停电事件 {id} 已取消。"),
    "done.plan": ("{n} crews dispatched.", "已派遣 {n} 支队伍。"),
    "done.plan_refused": ("Not done: {list}", "未执行：{list}"),
    "etr.day": ("Day", "日期"),
    "etr.time": ("Time", "时间"),
    "etr.confidence": ("Confidence", "可信度"),
    "restore.customers": ("Customers restored", "恢复用户数"),
    "cancel.reason": ("Reason", "原因"),
    "cancel.need_reason": ("Say why the outage is cancelled.", "请填写取消原因。"),
    "plan.title": ("Storm plan: all unassigned outages at once", "风暴派工计划：一次安排全部未派工事件"),
    "plan.make": ("Make a plan", "生成计划"),
    "plan.explain": (
        "Matches every unassigned outage to an available crew, weighing hazards, important users and "
        "customers against arrival times. Nothing is dispatched until you approve.",
        "综合危险、重要用户、用户数与到达时间，为所有未派工事件匹配可用队伍。经您批准后才会派工。",
    ),
    "plan.summary": (
        "{n} dispatches proposed, {unassigned} outages left without a crew, {crews} crews free, "
        "{minutes} min of travel in all.",
        "建议派工 {n} 项，{unassigned} 个事件暂无队伍，可用队伍 {crews} 支，总行程 {minutes} 分钟。",
    ),
    "plan.apply": ("Apply", "执行"),
    "plan.dispatch": ("Dispatch {n} crews", "派遣 {n} 支队伍"),
    "state.restored": ("restored", "已恢复"),
    "state.merged": ("merged", "已合并"),
    "state.cancelled": ("cancelled", "已取消"),
    "state.closed": ("closed", "已关闭"),
    "grade.special": ("special", "特级"),
    "grade.grade1": ("grade 1", "一级"),
    "grade.grade2": ("grade 2", "二级"),
    "grade.temporary": ("temporary", "临时性"),
    "grade.none": ("life support", "生命维持"),
    "report_kind.no_power": ("no power", "无电"),
    "report_kind.partial_power": ("partial power", "电压异常"),
    "report_kind.hazard": ("hazard", "危险"),
    "report_kind.last_gasp": ("meter last gasp", "电表失电"),
    "report_kind.power_restored": ("meter restored", "电表复电"),
    "report_kind.device_opened": ("SCADA trip", "开关跳闸"),
    "report_kind.device_closed": ("SCADA close", "开关合闸"),
    "customer_kind.residential": ("residential", "居民"),
    "customer_kind.commercial": ("commercial", "商业"),
    "customer_kind.industrial": ("industrial", "工业"),
    "customer_kind.hospital": ("hospital", "医院"),
    "customer_kind.water": ("water", "供水"),
    "customer_kind.gas": ("gas", "燃气"),
    "customer_kind.telecom": ("telecom", "通信"),
    "customer_kind.government": ("government", "政府"),
    "customer_kind.transport": ("transport", "交通"),
    "customer_kind.school": ("school", "学校"),
    "customer_kind.emergency_services": ("emergency services", "应急救援"),
    "customer_kind.life_support": ("life support", "生命维持"),
    "customer_kind.other": ("other", "其他"),
    "dispatch.show_network": ("Show network", "显示电网"),
    "dispatch.show_transformers": ("Include service transformers", "包括配电变压器"),
    "dispatch.refresh": ("Refreshes every {n} s", "每{n}秒刷新"),
    "dispatch.outages": ("Active outages", "当前停电事件"),
    "dispatch.customers_out": ("Customers out", "停电用户"),
    "dispatch.important_out": ("Important users out", "重要用户停电"),
    "dispatch.crews_available": ("Crews available", "可用队伍"),
    "dispatch.crews_busy": ("Crews working", "作业中队伍"),
    "dispatch.no_outages": ("No active outages.", "当前没有停电事件。"),
    "dispatch.col.id": ("Outage", "事件"),
    "dispatch.col.state": ("State", "状态"),
    "dispatch.col.device": ("Device", "设备"),
    "dispatch.col.kind": ("Kind", "类型"),
    "dispatch.col.customers": ("Customers", "用户数"),
    "dispatch.col.important": ("Important users", "重要用户"),
    "dispatch.col.reports": ("Reports", "报修数"),
    "dispatch.col.first_report": ("First report", "首次报修"),
    "dispatch.col.etr": ("ETR", "预计恢复"),
    "dispatch.legend": (
        "Outages by their most urgent clock: red breached · orange at risk · yellow on track · "
        "purple crew on site; circle size = customers out; dark ring = important users; "
        "red dashed ring = hazard. Crews: green available · blue working · grey off duty.",
        "停电事件按最紧急时限着色：红色已超时 · 橙色即将超时 · 黄色正常 · 紫色已到场；"
        "圆圈大小表示停电用户数；黑圈表示有重要用户；红色虚线圈表示有危险。"
        "队伍：绿色可用 · 蓝色作业中 · 灰色下班。",
    ),
    "state.reported": ("reported", "已报告"),
    "state.predicted": ("predicted", "预测"),
    "state.confirmed": ("confirmed", "已确认"),
    "state.dispatched": ("dispatched", "已派工"),
    "state.en_route": ("en route", "在途"),
    "state.on_site": ("on site", "已到场"),
    "crew.available": ("available", "可用"),
    "crew.dispatched": ("dispatched", "已派工"),
    "crew.en_route": ("en route", "在途"),
    "crew.on_site": ("on site", "现场作业"),
    "crew.off_duty": ("off duty", "下班"),
    "kind.substation": ("substation", "变电站"),
    "kind.breaker": ("feeder breaker", "馈线开关"),
    "kind.recloser": ("recloser", "重合器"),
    "kind.fuse": ("fuse", "熔断器"),
    "kind.transformer": ("transformer", "配电变压器"),
}


def current_language() -> str:
    language = st.session_state.get(LANGUAGE_KEY)
    if language not in LANGUAGE_LABELS:
        # First visit, or the selected option was clicked again (which deselects it).
        language = load_settings().language
        st.session_state[LANGUAGE_KEY] = language
    return language


def t(key: str, **values: object) -> str:
    """The text for `key` in the current language; unknown keys show as the key, never crash."""
    pair = STRINGS.get(key)
    text = key if pair is None else pair[1 if current_language() == "zh" else 0]
    return text.format(**values) if values else text


def language_switch() -> None:
    """The switch shown on every page; keeps its own session-state key."""
    current_language()
    st.sidebar.segmented_control(
        t("lang.label"),
        options=list(LANGUAGE_LABELS),
        format_func=LANGUAGE_LABELS.__getitem__,
        key=LANGUAGE_KEY,
        selection_mode="single",
    )


def local_time(when: datetime | None, tz: ZoneInfo | None = None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if when is None:
        return "—"
    return when.astimezone(tz or load_settings().timezone).strftime(fmt)
