# Reference values of tests/test_design.py (ca125kinetics.design), computed independently in R.
# Run from the repository root:  Rscript tests/data/design_reference.R
# Writes tests/data/design_reference.json and tests/data/design_ni_aml.csv.
# Versions used are recorded in the JSON ("versions").
suppressPackageStartupMessages({library(rpact); library(survival); library(jsonlite)})

schoenfeld <- function(hr, alpha, sided, power, p = 0.5, hr0 = 1)
  (qnorm(1 - alpha / sided) + qnorm(power))^2 / (p * (1 - p) * (log(hr) - log(hr0))^2)

# --- events: closed form by hand (qnorm) and rpact getSampleSizeSurvival (Schoenfeld)
ev_cases <- list(
  list(hr = 0.6, alpha = 0.025, sided = 1, power = 0.9, allocation = 0.5, margin_hr = NULL),
  list(hr = 0.6, alpha = 0.05, sided = 2, power = 0.8, allocation = 0.5, margin_hr = NULL),
  list(hr = 0.7, alpha = 0.025, sided = 1, power = 0.8, allocation = 2 / 3, margin_hr = NULL),
  list(hr = 1.0, alpha = 0.025, sided = 1, power = 0.9, allocation = 0.5, margin_hr = 1.3),
  list(hr = 0.95, alpha = 0.025, sided = 1, power = 0.8, allocation = 0.5, margin_hr = 1.25)
)
events <- lapply(ev_cases, function(k) {
  hr0 <- if (is.null(k$margin_hr)) 1 else k$margin_hr
  r <- k$allocation / (1 - k$allocation)
  rp <- getSampleSizeSurvival(alpha = k$alpha, sided = k$sided, beta = 1 - k$power, hazardRatio = k$hr,
                              thetaH0 = hr0, allocationRatioPlanned = r, lambda2 = log(2) / 14,
                              accrualTime = c(0, 36), followUpTime = 24)
  c(k, list(events_qnorm = schoenfeld(k$hr, k$alpha, k$sided, k$power, k$allocation, hr0),
            events_rpact = rp$maxNumberOfEvents))
})

# --- patients: uniform accrual, follow-up after the last entry, exponential (rpact; average of both arms)
n_cases <- list(
  list(hr = 0.6, alpha = 0.025, sided = 1, power = 0.9, allocation = 0.5, control_median = 14, accrual = 36,
       follow_up = 24, margin_hr = NULL),
  list(hr = 0.7, alpha = 0.025, sided = 1, power = 0.8, allocation = 2 / 3, control_median = 20, accrual = 24,
       follow_up = 12, margin_hr = NULL),
  list(hr = 1.0, alpha = 0.025, sided = 1, power = 0.8, allocation = 0.5, control_median = -36 * log(2) / log(0.8),
       accrual = 36, follow_up = 36, margin_hr = 1.5)
)
patients <- lapply(n_cases, function(k) {
  hr0 <- if (is.null(k$margin_hr)) 1 else k$margin_hr
  rp <- getSampleSizeSurvival(alpha = k$alpha, sided = k$sided, beta = 1 - k$power, hazardRatio = k$hr,
                              thetaH0 = hr0, allocationRatioPlanned = k$allocation / (1 - k$allocation),
                              lambda2 = log(2) / k$control_median, accrualTime = c(0, k$accrual),
                              followUpTime = k$follow_up)
  c(k, list(events_rpact = rp$maxNumberOfEvents, subjects_rpact = rp$maxNumberOfSubjects))
})

# --- detectable hazard ratio by hand, and rpact's power at that HR (must be the target power)
det <- lapply(c(100, 161.0686, 300), function(d) {
  hr <- exp(-(qnorm(0.975) + qnorm(0.9)) / sqrt(0.25 * d))
  pw <- getPowerSurvival(alpha = 0.025, sided = 1, hazardRatio = hr, directionUpper = FALSE, maxNumberOfEvents = d,
                         maxNumberOfSubjects = 1000, lambda2 = log(2) / 14, accrualTime = c(0, 36))
  list(events = d, alpha = 0.025, sided = 1, power = 0.9, hr_qnorm = hr, power_rpact = pw$overallReject)
})
margin <- lapply(c(200, 400), function(d) list(events = d, true_hr = 1, alpha = 0.025, sided = 1, power = 0.8,
                 margin_qnorm = exp((qnorm(0.975) + qnorm(0.8)) / sqrt(0.25 * d))))

# --- margin on survival at a time point -> hazard-ratio margin under PH
diff <- lapply(list(c(0.80, 0.05), c(0.75, 0.10), c(0.70, 0.08)), function(v)
  list(control_survival = v[1], difference = v[2], margin_hr = log(v[1] - v[2]) / log(v[1])))

# --- effective hazard ratio of a surgery arm mixing complete (hr1) and incomplete (hr2) resections:
# exp of the log HR(t) averaged over the pooled event density observed by the analysis
mixture_hr <- function(ppv, hr1, hr2, median, accrual, follow_up, p = 0.5) {
  lam <- log(2) / median
  G <- function(t) ifelse(t <= follow_up, 1, (accrual + follow_up - t) / accrual)
  fe <- function(t) lam * (ppv * hr1 * exp(-lam * hr1 * t) + (1 - ppv) * hr2 * exp(-lam * hr2 * t))
  Se <- function(t) ppv * exp(-lam * hr1 * t) + (1 - ppv) * exp(-lam * hr2 * t)
  w <- function(t) (p * fe(t) + (1 - p) * lam * exp(-lam * t)) * G(t)
  num <- function(t) w(t) * log(fe(t) / Se(t) / lam)
  i <- function(f) integrate(f, 0, follow_up, rel.tol = 1e-10)$value +
    integrate(f, follow_up, accrual + follow_up, rel.tol = 1e-10)$value
  exp(i(num) / i(w))
}
# follow-up 24 and 36 months: the table of docs/design.md (the quoted illustrative 122 / 244 /
# 497 events at PPV 1 / 0.755 / 0.6 are closest to the 36 / 36 row)
mix <- do.call(c, lapply(c(24, 36), function(follow_up) lapply(c(1, 0.9, 0.755, 0.6), function(ppv) {
  h <- mixture_hr(ppv, 0.6, 1.2, 14, 36, follow_up)
  list(ppv = ppv, hr_complete = 0.6, hr_incomplete = 1.2, control_median = 14, accrual = 36,
       follow_up = follow_up, hr_mixture = h, events_80_two_sided_05 = schoenfeld(h, 0.05, 2, 0.8))
})))

# --- Kaplan-Meier at a time point and Cox HR on survival::aml (AML maintenance, weeks)
aml_data <- survival::aml
write.csv(data.frame(time = aml_data$time, status = aml_data$status, x = as.character(aml_data$x)),
          "tests/data/design_ni_aml.csv", row.names = FALSE)
fit <- survfit(Surv(time, status) ~ x, data = aml_data)
s <- summary(fit, times = 36)
se <- s$std.err  # Greenwood
names(se) <- names(s$surv) <- sub("x=", "", as.character(s$strata))
d <- s$surv[["Maintained"]] - s$surv[["Nonmaintained"]]
sed <- sqrt(sum(se^2))
cx <- coxph(Surv(time, status) ~ I(x == "Maintained"), data = aml_data, ties = "efron")
cs <- summary(cx)
km <- list(at = 36, experimental = "Maintained", control = "Nonmaintained",
           survival_experimental = s$surv[["Maintained"]], se_experimental = se[["Maintained"]],
           survival_control = s$surv[["Nonmaintained"]], se_control = se[["Nonmaintained"]],
           difference = d, difference_ci_low = d - qnorm(0.975) * sed, difference_ci_high = d + qnorm(0.975) * sed,
           hr = cs$conf.int[1, "exp(coef)"], hr_ci_low = cs$conf.int[1, "lower .95"],
           hr_ci_high = cs$conf.int[1, "upper .95"], hr_p_value = cs$coefficients[1, "Pr(>|z|)"])

out <- list(
  versions = list(R = R.version.string, rpact = as.character(packageVersion("rpact")),
                  survival = as.character(packageVersion("survival"))),
  gsdesign_quoted = list(call = "gsDesign::nEvents(hr = 0.6, alpha = 0.025, beta = 0.1)", events = 161.07,
                         note = "quoted from the gsDesign documentation/issue; gsDesign is not packaged in Debian"),
  events = events, patients = patients, detectable_hr = det, supported_margin = margin,
  margin_from_difference = diff, mixture_hr = mix, noninferiority_aml = km)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", pretty = TRUE),
           "tests/data/design_reference.json")
