"""The entry script: language, who is signed in (dashboard/session.py), and the pages their role may see."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import streamlit as st

from dashboard import services
from dashboard.i18n import language_switch, t
from dashboard.session import (
    CONTROL_ROOM_ROLES,
    announce_end,
    current_actor,
    fetch_cookie,
    keep_alive,
    keep_language,
    landing_page,
    wanted_staff_page,
)
from dashboard.simulator_view import draw_demo_banner
from emergency.core.models import Role

PAGES_DIR = Path(__file__).resolve().parent.parent / "pages"

st.set_page_config(
    page_title="Outage Desk",
    page_icon=str(Path(__file__).resolve().parent / "assets" / "icon.png"),
    layout="wide",
)
keep_language()
ready = services.database_ready()
if ready:
    # Who is signed in (their session in the database, found by this browser session or its
    # cookie) is settled before the language switch and the navigation are drawn, so a reloaded
    # or bookmarked staff page is there, in the language the user last chose.
    keep_alive()
language_switch()

if not ready:
    st.error(t("no_db"))
    st.stop()

announce_end()
actor = current_actor()
public = [
    st.Page(
        PAGES_DIR / "public_status.py",
        title=t("nav.public"),
        icon=":material/lightbulb:",
        url_path="status",
        default=True,
    ),
    st.Page(PAGES_DIR / "public_check.py", title=t("nav.check"), icon=":material/search:", url_path="check"),
    st.Page(
        PAGES_DIR / "public_report.py", title=t("nav.report"), icon=":material/report:", url_path="report"
    ),
    st.Page(
        PAGES_DIR / "public_feedback.py",
        title=t("nav.feedback"),
        icon=":material/feedback:",
        url_path="feedback",
    ),
]
sections: dict[str, list[st.Page]] = {t("nav.section.public"): public}
if actor is None:
    # A staff page opened signed out (a bookmark, a reload after the session ended) shows the login
    # form at its own address rather than "Page not found"; the login then opens that page.
    wanted = wanted_staff_page()
    sections[t("nav.section.account")] = [
        st.Page(
            PAGES_DIR / "login.py", title=t("nav.login"), icon=":material/login:", url_path=wanted or "login"
        )
    ]
else:
    if actor.role in {str(r) for r in CONTROL_ROOM_ROLES}:
        sections[t("nav.section.staff")] = [
            st.Page(
                PAGES_DIR / "dispatcher_map.py",
                title=t("nav.dispatcher"),
                icon=":material/map:",
                url_path="dispatch",
            ),
            st.Page(
                PAGES_DIR / "mutual_aid.py",
                title=t("ma.nav"),
                icon=":material/groups:",
                url_path="mutual-aid",
            ),
        ]
    if actor.role in {Role.MANAGER, Role.ADMIN}:
        sections[t("nav.section.manager")] = [
            st.Page(
                PAGES_DIR / "manager_warnings.py",
                title=t("nav.manager_warnings"),
                icon=":material/warning:",
                url_path="warnings",
            ),
            st.Page(
                PAGES_DIR / "manager_cap_feeds.py",
                title=t("capfeed.nav"),
                icon=":material/rss_feed:",
                url_path="cap-feeds",
            ),
            st.Page(
                PAGES_DIR / "manager_outreach.py",
                title=t("nav.manager_outreach"),
                icon=":material/priority_high:",
                url_path="priority",
            ),
            st.Page(
                PAGES_DIR / "important_users.py",
                title=t("nav.important_users"),
                icon=":material/local_hospital:",
                url_path="important-users",
            ),
            st.Page(
                PAGES_DIR / "manager_sitrep.py",
                title=t("nav.sitrep"),
                icon=":material/summarize:",
                url_path="sitrep",
            ),
            st.Page(
                PAGES_DIR / "manager_complaints.py",
                title=t("nav.complaints"),
                icon=":material/support_agent:",
                url_path="complaints",
            ),
            st.Page(
                PAGES_DIR / "manager_compliance.py",
                title=t("nav.compliance"),
                icon=":material/fact_check:",
                url_path="compliance",
            ),
            st.Page(
                PAGES_DIR / "manager_reliability.py",
                title=t("nav.reliability"),
                icon=":material/insights:",
                url_path="reliability",
            ),
        ]
    if actor.role == Role.CREW:
        # A crew leader sees their crew's page and logout, nothing else.
        del sections[t("nav.section.public")]
        crew_work = st.Page(
            PAGES_DIR / "crew.py", title=t("crewpage.nav"), icon=":material/engineering:", url_path="crew"
        )
        sections[t("nav.section.staff")] = [crew_work]
        # Streamlit serves its default page at the root only, never at the page's own path: were the
        # crew page the default, a bookmarked /crew would say "Page not found". The root opens it at
        # its own address instead.
        crew_root = st.Page(
            lambda: st.switch_page(crew_work),
            title=t("crewpage.nav"),
            url_path="crew-root",
            default=True,
            visibility="hidden",  # not listed: the navigation lists the crew page itself
        )
        sections[t("nav.section.staff")].insert(0, crew_root)
    account = [
        st.Page(PAGES_DIR / "logout.py", title=t("nav.logout"), icon=":material/logout:", url_path="logout")
    ]
    if actor.role in {Role.MANAGER, Role.ADMIN}:
        account.insert(
            0,
            st.Page(
                PAGES_DIR / "audit_log.py", title=t("nav.audit"), icon=":material/history:", url_path="audit"
            ),
        )
    if actor.role == Role.ADMIN:
        account.insert(
            0,
            st.Page(PAGES_DIR / "users.py", title=t("nav.users"), icon=":material/group:", url_path="users"),
        )
        account.insert(
            1,
            st.Page(
                PAGES_DIR / "simulator_admin.py",
                title=t("nav.simulator"),
                icon=":material/cyclone:",
                url_path="simulator",
            ),
        )
    sections[t("nav.section.account")] = account
    st.sidebar.caption(t("who.signed_in", user=actor.username, role=t(f"role.{actor.role}")))

if services.is_demo(services.database().url):
    st.sidebar.info(t("app.demo_banner"))
    draw_demo_banner()

# Expanded: a manager has more pages than Streamlit shows before a "View more" button, and a
# report page hidden behind a click is a page nobody finds.
every = [p for pages in sections.values() for p in pages]
navigation = st.navigation(sections, expanded=True)
landing = landing_page()
if landing:
    # Just logged in: open the page asked for, else the user's own (the cookie is fetched on that run).
    by_path = {p.url_path: p for p in every}
    st.switch_page(next((by_path[path] for path in landing if path in by_path), every[0]))
fetch_cookie()
navigation.run()
