//! Cases and their state machine, the working-day clock, and the catalogue's types.
//! Pure: no I/O, no clock.

use chrono::{Datelike, NaiveDate, Weekday};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;

/// Where a case is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    Submitted,
    Accepted,
    RefusedAtIntake,
    UnderReview,
    SupplementRequested,
    Supplemented,
    Approved,
    Denied,
    ResultDelivered,
    Closed,
    Withdrawn,
}

impl CaseState {
    pub const ALL: [CaseState; 11] = [
        CaseState::Submitted,
        CaseState::Accepted,
        CaseState::RefusedAtIntake,
        CaseState::UnderReview,
        CaseState::SupplementRequested,
        CaseState::Supplemented,
        CaseState::Approved,
        CaseState::Denied,
        CaseState::ResultDelivered,
        CaseState::Closed,
        CaseState::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::Submitted => "submitted",
            CaseState::Accepted => "accepted",
            CaseState::RefusedAtIntake => "refused_at_intake",
            CaseState::UnderReview => "under_review",
            CaseState::SupplementRequested => "supplement_requested",
            CaseState::Supplemented => "supplemented",
            CaseState::Approved => "approved",
            CaseState::Denied => "denied",
            CaseState::ResultDelivered => "result_delivered",
            CaseState::Closed => "closed",
            CaseState::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(text: &str) -> Option<CaseState> {
        CaseState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// No decision yet: the applicant may still withdraw, and the clock runs.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            CaseState::Submitted
                | CaseState::Accepted
                | CaseState::UnderReview
                | CaseState::SupplementRequested
                | CaseState::Supplemented
        )
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            CaseState::RefusedAtIntake | CaseState::Closed | CaseState::Withdrawn
        )
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that happens to a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// 受理: the application is complete and taken on.
    Accept,
    /// Refused at intake, with a reason (incomplete, not competent…).
    RefuseAtIntake,
    StartReview,
    /// More material is needed; the clock stops until it comes.
    RequestSupplement,
    Supplement,
    Approve,
    Deny,
    /// The result reached the applicant: express tracking number or e-licence issued.
    DeliverResult,
    Close,
    /// The applicant withdraws before a decision.
    Withdraw,
}

impl Action {
    pub const ALL: [Action; 10] = [
        Action::Accept,
        Action::RefuseAtIntake,
        Action::StartReview,
        Action::RequestSupplement,
        Action::Supplement,
        Action::Approve,
        Action::Deny,
        Action::DeliverResult,
        Action::Close,
        Action::Withdraw,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::RefuseAtIntake => "refuse_at_intake",
            Action::StartReview => "start_review",
            Action::RequestSupplement => "request_supplement",
            Action::Supplement => "supplement",
            Action::Approve => "approve",
            Action::Deny => "deny",
            Action::DeliverResult => "deliver_result",
            Action::Close => "close",
            Action::Withdraw => "withdraw",
        }
    }

    /// Whether the action must say why.
    pub fn needs_reason(self) -> bool {
        matches!(self, Action::RefuseAtIntake | Action::RequestSupplement | Action::Deny)
    }
}

/// Who acts on a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The resident or business that applied.
    Applicant,
    /// A clerk at the window that received the application (异地代收).
    IntakeClerk,
    /// An officer of the competent authority that decides.
    Authority,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Applicant, Role::IntakeClerk, Role::Authority];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransitionError {
    /// The action does not apply in this state (e.g. approving a withdrawn case).
    NotAllowed { state: CaseState, action: Action },
    /// The action applies, but not for this role (e.g. a window clerk deciding).
    WrongRole { action: Action, role: Role },
}

impl fmt::Display for TransitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransitionError::NotAllowed { state, action } => {
                write!(f, "a case that is {state} cannot be {}", action.as_str())
            }
            TransitionError::WrongRole { action, role } => {
                let who = match role {
                    Role::Applicant => "the applicant",
                    Role::IntakeClerk => "the receiving window",
                    Role::Authority => "the competent authority",
                };
                write!(f, "{who} may not {}", action.as_str())
            }
        }
    }
}

/// The whole state machine: from `state`, `action` by `role` leads to the returned state.
pub fn transition(state: CaseState, action: Action, role: Role) -> Result<CaseState, TransitionError> {
    use Action as A;
    use CaseState as S;
    let next = match (state, action) {
        (S::Submitted, A::Accept) => S::Accepted,
        (S::Submitted, A::RefuseAtIntake) => S::RefusedAtIntake,
        (S::Accepted | S::Supplemented, A::StartReview) => S::UnderReview,
        (S::UnderReview, A::RequestSupplement) => S::SupplementRequested,
        (S::SupplementRequested, A::Supplement) => S::Supplemented,
        (S::UnderReview, A::Approve) => S::Approved,
        (S::UnderReview, A::Deny) => S::Denied,
        (S::Approved, A::DeliverResult) => S::ResultDelivered,
        (S::ResultDelivered | S::Denied, A::Close) => S::Closed,
        (s, A::Withdraw) if s.is_open() => S::Withdrawn,
        _ => return Err(TransitionError::NotAllowed { state, action }),
    };
    let allowed = match action {
        // Intake is checked where the application was received, or by the authority itself.
        A::Accept | A::RefuseAtIntake => matches!(role, Role::IntakeClerk | Role::Authority),
        A::StartReview | A::RequestSupplement | A::Approve | A::Deny | A::DeliverResult | A::Close => {
            role == Role::Authority
        }
        A::Supplement | A::Withdraw => matches!(role, Role::Applicant | Role::IntakeClerk),
    };
    if allowed {
        Ok(next)
    } else {
        Err(TransitionError::WrongRole { action, role })
    }
}

/// Working days: weekdays, less public holidays, plus make-up working weekends.
#[derive(Debug, Clone, Default)]
pub struct WorkCalendar {
    off: HashSet<NaiveDate>,
    work: HashSet<NaiveDate>,
}

impl WorkCalendar {
    /// Reads `date,kind,name` lines (`kind` is `off` or `work`); `#` starts a comment.
    pub fn parse(text: &str) -> Result<WorkCalendar, String> {
        let mut calendar = WorkCalendar::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with("date,") {
                continue;
            }
            let mut fields = line.split(',');
            let date = fields
                .next()
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .ok_or_else(|| format!("line {}: a date (YYYY-MM-DD) first", i + 1))?;
            match fields.next() {
                Some("off") => calendar.off.insert(date),
                Some("work") => calendar.work.insert(date),
                _ => return Err(format!("line {}: kind must be off or work", i + 1)),
            };
        }
        Ok(calendar)
    }

    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.work.contains(&date) {
            return true;
        }
        !self.off.contains(&date) && !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// The `days`-th working day after `from` (`from` itself does not count).
    pub fn add_working_days(&self, from: NaiveDate, days: u32) -> NaiveDate {
        let mut date = from;
        let mut left = days;
        while left > 0 {
            date = date.succ_opt().expect("dates stay in range");
            if self.is_working_day(date) {
                left -= 1;
            }
        }
        date
    }

    /// Working days after `from` up to and including `to` (0 when `to` is not later).
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> u32 {
        let mut count = 0;
        let mut date = from;
        while date < to {
            date = date.succ_opt().expect("dates stay in range");
            if self.is_working_day(date) {
                count += 1;
            }
        }
        count
    }
}

/// How a case stands against its deadline on `today`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Timeliness {
    OnTime,
    /// Two working days or fewer left.
    NearlyDue,
    Overdue,
}

pub fn timeliness(calendar: &WorkCalendar, deadline: NaiveDate, today: NaiveDate) -> Timeliness {
    if today > deadline {
        Timeliness::Overdue
    } else if calendar.working_days_between(today, deadline) <= 2 {
        Timeliness::NearlyDue
    } else {
        Timeliness::OnTime
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApplicantType {
    Person,
    Business,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Fully online.
    Online,
    /// At a cross-province window that receives for the deciding province (异地代收).
    RemoteWindow,
    /// A clerk of the deciding province serves over video at another province's window.
    VirtualWindow,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Online => "online",
            Channel::RemoteWindow => "remote_window",
            Channel::VirtualWindow => "virtual_window",
        }
    }

    pub fn parse(text: &str) -> Option<Channel> {
        [Channel::Online, Channel::RemoteWindow, Channel::VirtualWindow]
            .into_iter()
            .find(|c| c.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    /// Every (state, action, role) with its expected outcome, written out by hand.
    #[test]
    fn the_state_machine_is_exactly_this_table() {
        use Action as A;
        use CaseState as S;
        use Role as R;
        let allowed: &[(S, A, &[R], S)] = &[
            (S::Submitted, A::Accept, &[R::IntakeClerk, R::Authority], S::Accepted),
            (
                S::Submitted,
                A::RefuseAtIntake,
                &[R::IntakeClerk, R::Authority],
                S::RefusedAtIntake,
            ),
            (S::Submitted, A::Withdraw, &[R::Applicant, R::IntakeClerk], S::Withdrawn),
            (S::Accepted, A::StartReview, &[R::Authority], S::UnderReview),
            (S::Accepted, A::Withdraw, &[R::Applicant, R::IntakeClerk], S::Withdrawn),
            (
                S::UnderReview,
                A::RequestSupplement,
                &[R::Authority],
                S::SupplementRequested,
            ),
            (S::UnderReview, A::Approve, &[R::Authority], S::Approved),
            (S::UnderReview, A::Deny, &[R::Authority], S::Denied),
            (
                S::UnderReview,
                A::Withdraw,
                &[R::Applicant, R::IntakeClerk],
                S::Withdrawn,
            ),
            (
                S::SupplementRequested,
                A::Supplement,
                &[R::Applicant, R::IntakeClerk],
                S::Supplemented,
            ),
            (
                S::SupplementRequested,
                A::Withdraw,
                &[R::Applicant, R::IntakeClerk],
                S::Withdrawn,
            ),
            (S::Supplemented, A::StartReview, &[R::Authority], S::UnderReview),
            (
                S::Supplemented,
                A::Withdraw,
                &[R::Applicant, R::IntakeClerk],
                S::Withdrawn,
            ),
            (S::Approved, A::DeliverResult, &[R::Authority], S::ResultDelivered),
            (S::ResultDelivered, A::Close, &[R::Authority], S::Closed),
            (S::Denied, A::Close, &[R::Authority], S::Closed),
        ];
        let mut checked = 0;
        for state in S::ALL {
            for action in A::ALL {
                for role in R::ALL {
                    let got = transition(state, action, role);
                    match allowed.iter().find(|(s, a, _, _)| *s == state && *a == action) {
                        None => assert_eq!(
                            got,
                            Err(TransitionError::NotAllowed { state, action }),
                            "{state} {action:?} {role:?}"
                        ),
                        Some((_, _, roles, next)) if roles.contains(&role) => {
                            assert_eq!(got, Ok(*next), "{state} {action:?} {role:?}")
                        }
                        Some(_) => assert_eq!(
                            got,
                            Err(TransitionError::WrongRole { action, role }),
                            "{state} {action:?} {role:?}"
                        ),
                    }
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 11 * 10 * 3);
        // Final states lead nowhere.
        for state in S::ALL.into_iter().filter(|s| s.is_final()) {
            assert!(A::ALL.iter().all(|a| transition(state, *a, R::Authority).is_err()));
        }
    }

    #[test]
    fn errors_say_what_was_refused() {
        let err = transition(CaseState::Withdrawn, Action::Approve, Role::Authority).unwrap_err();
        assert_eq!(err.to_string(), "a case that is withdrawn cannot be approve");
        let err = transition(CaseState::UnderReview, Action::Approve, Role::IntakeClerk).unwrap_err();
        assert_eq!(err.to_string(), "the receiving window may not approve");
    }

    fn calendar() -> WorkCalendar {
        WorkCalendar::parse(include_str!("../../../data/calendar/cn-2024-2026.csv")).unwrap()
    }

    #[test]
    fn working_days_skip_holidays_and_count_make_up_days() {
        let cal = calendar();
        // National Day 2026: Oct 1–7 off; Sunday Sep 20 and Saturday Oct 10 are working days.
        assert!(!cal.is_working_day(d("2026-10-05")));
        assert!(cal.is_working_day(d("2026-09-20")));
        assert!(cal.is_working_day(d("2026-10-10")));
        // Accepted on Wednesday 2026-09-30: five working days are Oct 8, 9, 10 (make-up Saturday), 12, 13.
        assert_eq!(cal.add_working_days(d("2026-09-30"), 5), d("2026-10-13"));
        // Spring Festival 2025 (Jan 28 – Feb 4 off, Jan 26 and Feb 8 working).
        assert_eq!(cal.add_working_days(d("2025-01-24"), 1), d("2025-01-26"));
        assert_eq!(cal.add_working_days(d("2025-01-27"), 1), d("2025-02-05"));
        assert_eq!(cal.working_days_between(d("2025-01-27"), d("2025-02-05")), 1);
        // Outside the shipped years, weekends still count as rest days.
        assert_eq!(cal.add_working_days(d("2030-03-01"), 1), d("2030-03-04"));
        assert!(WorkCalendar::parse("2026-01-01,holiday,x").is_err());
    }

    #[test]
    fn timeliness_warns_two_working_days_ahead() {
        let cal = calendar();
        assert_eq!(timeliness(&cal, d("2026-11-30"), d("2026-11-20")), Timeliness::OnTime);
        assert_eq!(
            timeliness(&cal, d("2026-11-30"), d("2026-11-26")),
            Timeliness::NearlyDue
        );
        assert_eq!(timeliness(&cal, d("2026-11-30"), d("2026-12-01")), Timeliness::Overdue);
    }
}
