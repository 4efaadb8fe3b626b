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
    "nav.dispatcher": ("Dispatcher map", "调度地图"),
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
    "dispatch.title": ("Dispatcher map", "调度地图"),
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
        "Outages: red hazard · orange confirmed · yellow predicted · blue crew assigned · purple on site; "
        "circle size = customers. Crews: green available · blue working · grey off duty.",
        "停电：红色有危险 · 橙色已确认 · 黄色预测 · 蓝色已派工 · 紫色已到场；圆圈大小表示用户数。"
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
