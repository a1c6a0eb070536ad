# Reference values for the adversarial cases of the validation statistics added by the audit
# of December 2026 (tests/test_survival.py, tests/test_validation_metrics.py): survival data
# censored at time 0, all events at one time, a group never at risk at an event time,
# three-group log-rank, Cox with events and censoring at 0; the lowess calibration curve on
# 5-12 patients with tied risks (where R loess warns "pseudoinverse used").
#
# Run from the repository root:
#   Rscript tests/data/validation_audit_reference.R > tests/data/validation_audit_reference.json
# Needs R >= 4.1 with survival (>= 3.5) and jsonlite. Every input is written literally below
# and copied into the JSON. JSON null is R's NA, NaN or Inf.
suppressMessages({library(survival); library(jsonlite)})
num <- function(x) { x <- as.numeric(x); x[!is.finite(x)] <- NA; x }

# survdiff leaves a group with expected 0 (never at risk at an event time) out of the test:
# df = groups with expected > 0, minus 1. Here that is the test of a against b.
lr <- list(time = c(1, 2, 3, 4, 5, 6, 7, 8, 0), event = c(1, 0, 1, 1, 1, 0, 1, 1, 0),
           group = c("a", "a", "a", "a", "b", "b", "b", "b", "c"))
s <- survdiff(Surv(lr$time, lr$event) ~ lr$group)
logrank_group_never_at_risk <- c(lr, list(chisq = s$chisq, df = sum(s$exp > 0) - 1,
  p_value = pchisq(s$chisq, sum(s$exp > 0) - 1, lower.tail = FALSE), expected = as.numeric(s$exp)))

logrank_cases <- list(
  three_groups = list(time = c(1, 2, 3, 4, 5, 6, 7, 8, 2, 3, 4), event = c(1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1),
                      group = c("a", "a", "a", "a", "b", "b", "b", "b", "c", "c", "c")),
  group_without_events = list(time = c(1, 2, 3, 4, 5, 6, 7, 8, 2, 9), event = c(1, 0, 1, 1, 1, 0, 1, 1, 0, 0),
                              group = c("a", "a", "a", "a", "b", "b", "b", "b", "c", "c")),
  all_at_one_time = list(time = c(3, 3, 3, 3, 3, 3), event = c(1, 1, 1, 0, 0, 1), group = c(0, 1, 0, 1, 0, 1)),
  censored_at_zero = list(time = c(0, 0, 1, 2, 3, 4, 5, 6), event = c(0, 0, 1, 1, 0, 1, 1, 0),
                          group = c(0, 1, 0, 1, 0, 1, 1, 0)),
  events_at_zero = list(time = c(0, 0, 0, 2, 3, 4, 5, 6), event = c(1, 1, 0, 1, 0, 1, 1, 0),
                        group = c(1, 0, 0, 1, 0, 1, 1, 0)))
logrank <- lapply(logrank_cases, function(d) {
  s <- survdiff(Surv(d$time, d$event) ~ d$group)
  cx <- lapply(c("efron", "breslow"), function(ties) {
    if (length(unique(d$group)) != 2) return(NULL)
    f <- coxph(Surv(d$time, d$event) ~ d$group, ties = ties)
    list(coef = num(coef(f)), se = num(sqrt(vcov(f)[1, 1])))
  })
  names(cx) <- c("efron", "breslow")
  c(d, list(chisq = s$chisq, expected = as.numeric(s$exp), cox = cx))
})

km_cases <- list(
  censored_at_zero = list(time = c(0, 0, 1, 2), event = c(0, 0, 1, 1)),
  all_events_one_time = list(time = c(3, 3, 3, 3), event = c(1, 1, 1, 1)),
  half_at_one_time = list(time = c(3, 3, 3, 3), event = c(1, 1, 0, 0)),
  one_patient = list(time = 3, event = 1),
  half_at_zero = list(time = c(0, 0, 0, 5), event = c(1, 1, 0, 1)))
km <- lapply(km_cases, function(d) {
  out <- d
  for (ct in c("log-log", "log", "plain")) {
    f <- survfit(Surv(d$time, d$event) ~ 1, conf.type = ct)
    q <- quantile(f, 0.5)
    out[[ct]] <- list(time = f$time, survival = f$surv, ci_low = num(f$lower), ci_high = num(f$upper),
                      median = num(q$quantile), median_ci = num(c(q$lower, q$upper)))
  }
  out
})

# the package's smoother: loess(degree = 1, surface = "direct", span = 0.75); R warns
# "pseudoinverse used" on these (a neighbourhood with one or two distinct risks)
lowess_cases <- list(
  tiny_n5 = list(y = c(1, 0, 0, 1, 1), p = c(.9, .1, .5, .5, .3)),
  two_levels = list(y = c(0, 1, 0, 1, 0, 1, 1, 1, 0, 0, 1, 0), p = c(.2, .2, .2, .2, .2, .2, .6, .6, .6, .6, .6, .6)),
  separated_12 = list(y = c(0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1),
                      p = c(.05, .1, .15, .2, .25, .3, .6, .65, .7, .8, .9, .95)))
lowess <- lapply(lowess_cases, function(d) {
  s <- suppressWarnings(predict(loess(y ~ p, data = d, span = .75, degree = 1, surface = "direct")))
  e <- abs(s - d$p)
  c(d, list(smooth = s, ici = mean(e), e50 = median(e), e90 = quantile(e, .9, names = FALSE), emax = max(e)))
})

# a covariate that varies but not among the patients at risk at any event time (both x = 0
# are censored before the first event): coxph reports NA for its coefficient
cx <- list(time = c(1, 2, 3, 4, 5, 6, 0.5, 0.5), event = c(1, 1, 0, 1, 1, 0, 0, 0), x = c(1, 1, 1, 1, 1, 1, 0, 0),
           z = c(0.3, 0.1, 0.5, 0.2, 0.9, 0.4, 0.6, 0.7))
cox_not_identifiable <- c(cx, list(
  coef_x = num(coef(coxph(Surv(cx$time, cx$event) ~ cx$x))),
  coef_x_with_z = num(rev(coef(coxph(Surv(cx$time, cx$event) ~ cx$z + cx$x))))))

# a covariate of large mean and small spread (1000 + 0.001 z): coxph centres it; the
# coefficient is that of z divided by 0.001
sh <- list(time = c(1, 2, 3, 4, 5, 6, 7, 8), event = c(1, 0, 1, 1, 0, 1, 1, 0),
           x = 1000 + 0.001 * c(0.3, 0.1, 0.5, 0.2, 0.9, 0.4, 0.6, 0.7))
fs <- coxph(Surv(sh$time, sh$event) ~ sh$x)
cox_shifted <- c(sh, list(coef = num(coef(fs)), se = num(sqrt(vcov(fs)[1, 1]))))

cat(toJSON(list(
  generated_by = "Rscript tests/data/validation_audit_reference.R",
  r_version = R.version.string, survival = as.character(packageVersion("survival")),
  logrank_group_never_at_risk = logrank_group_never_at_risk, logrank = logrank, km = km, lowess = lowess,
  cox_not_identifiable = cox_not_identifiable, cox_shifted = cox_shifted),
  digits = NA, auto_unbox = TRUE, na = "null", pretty = TRUE))
