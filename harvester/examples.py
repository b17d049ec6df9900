"""The example queries the demo prints and the README shows (a test keeps them in step)."""

from __future__ import annotations

__all__ = ["EXAMPLE_QUERIES"]

MEMBER_ACTIVITY = """
select m.email,
       max(a.created_at) filter (where a.status = 'success')              as last_login,
       count(a.id) filter (where a.status <> 'success'
                           and a.created_at >= now() - interval 30 days)  as failed_logins_30d,
       (select count(*) from project_action_logs p
         where p.author_id = m.author_id
           and p.created_at >= now() - interval 30 days)                  as actions_30d
from members m
left join auth_attempt_logs a on a.email = m.email
where m.removed_at is null
group by m.email, m.author_id
order by failed_logins_30d desc, m.email
"""

PROJECT_ACTIVITY = """
select p.name as project,
       (select count(*) from connector_action_logs c
         where c.project_id = p.id and c.created_at >= now() - interval 30 days) as connector_actions,
       (select count(*) from email_notification_logs e
         where e.project_id = p.id and e.created_at >= now() - interval 30 days
           and e.kind not like '%:mock' and e.kind <> 'received')               as emails_sent,
       (select count(*) from ai_prompt_logs i
         where i.project_id = p.id and i.created_at >= now() - interval 30 days) as ai_prompts
from projects p
where p.removed_at is null
order by connector_actions desc, project
"""

EXECUTION_HEALTH = """
select p.name as project,
       count(*)                                   as executions_7d,
       count(*) filter (where e.status = 'failed') as failed,
       round(100.0 * count(*) filter (where e.status = 'failed') / count(*), 1) as failed_pct
from executions e join projects p on p.id = e.project_id
where e.created_at >= now() - interval 7 days
group by p.name
order by failed_pct desc, project
"""

PEOPLE_ACROSS_SOURCES = """
select m.email,
       (select count(*) from auth_attempt_logs a
         where a.email = m.email and a.status = 'success')              as logins,
       (select count(*) from project_action_logs p
         where p.author_id = m.author_id)                               as abstra_actions,
       (select count(*) from automations au
         where au.publish_user_id = m.email and au.removed_at is null)  as automations_published,
       (select coalesce(sum(f.count), 0) from flow_execution_counts f
         where f.group_by = 'user' and f.key = m.email)                 as flow_runs
from members m
where m.removed_at is null
order by automations_published desc, m.email
"""

EXAMPLE_QUERIES: tuple[tuple[str, str], ...] = (
    ("per member: last login, failed logins and actions over 30 days", MEMBER_ACTIVITY),
    ("per project: connector actions, emails sent and AI prompts over 30 days", PROJECT_ACTIVITY),
    ("per project: executions and failure rate over 7 days", EXECUTION_HEALTH),
    ("per person, across the three platforms: Abstra logins and actions, automations published, flow runs",
     PEOPLE_ACROSS_SOURCES),
)
