# Reference values of tests/test_design.py::test_noninferiority_analysis_equals_r_on_a_simulated_reset_trial,
# computed independently in R (survival). Run from the repository root:
#   Rscript tests/data/design_ni_reference.R
# Writes tests/data/design_ni_sim.csv (the simulated trial) and tests/data/design_ni_reference.json.
suppressPackageStartupMessages({library(survival); library(jsonlite)})

# A RESET-like trial: 874 patients 1:1, reduced vs conventional margins, exponential DFS with 3-year
# DFS 0.80 on the conventional arm and a true HR of 1.1 (reduced vs conventional), uniform entry over
# 36 months, analysis at 72, random dropout (hazard 0.005 / month), times rounded to 0.1 month (ties).
set.seed(20240611)
n <- 874
arm <- rep(c("reduced", "conventional"), each = n / 2)
lam <- -log(0.8) / 36
entry <- runif(n, 0, 36)
latent <- rexp(n) / (lam * ifelse(arm == "reduced", 1.1, 1))
cens <- pmin(72 - entry, rexp(n, 0.005))
d <- data.frame(dfs_months = round(pmin(latent, cens), 1), dfs_event = as.integer(latent <= cens), arm = arm)
write.csv(d, "tests/data/design_ni_sim.csv", row.names = FALSE)

at <- 36
s <- summary(survfit(Surv(dfs_months, dfs_event) ~ arm, data = d), times = at)
names(s$surv) <- names(s$std.err) <- sub("arm=", "", as.character(s$strata))
cx <- coxph(Surv(dfs_months, dfs_event) ~ I(arm == "reduced"), data = d, ties = "efron")
b <- unname(coef(cx)); se <- sqrt(vcov(cx)[1, 1])
cases <- lapply(list(list(conf_level = 0.95, margin_hr = 1.3, margin_diff = 0.05),
                     list(conf_level = 0.95, margin_hr = 1.6, margin_diff = 0.10),
                     list(conf_level = 0.90, margin_hr = 1.5, margin_diff = 0.08)), function(k) {
  z <- qnorm(0.5 + k$conf_level / 2)
  diff <- s$surv[["reduced"]] - s$surv[["conventional"]]
  sed <- sqrt(s$std.err[["reduced"]]^2 + s$std.err[["conventional"]]^2)
  upper <- exp(b + z * se)
  c(k, list(
    difference_ci_low = diff - z * sed, difference_ci_high = diff + z * sed,
    hr_ci_low = exp(b - z * se), hr_ci_high = upper,
    # one-sided Wald p of H0: HR >= margin (non-inferiority) and of H0: S_e - S_c <= -margin_diff
    ni_p_hr = pnorm((b - log(k$margin_hr)) / se),
    ni_p_diff = pnorm(-(diff + k$margin_diff) / sed),
    noninferior_hr = upper < k$margin_hr, noninferior_diff = diff - z * sed > -k$margin_diff))
})
out <- list(
  versions = list(R = R.version.string, survival = as.character(packageVersion("survival")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  at = at, experimental = "reduced", control = "conventional",
  n_experimental = sum(d$arm == "reduced"), n_control = sum(d$arm == "conventional"),
  events_experimental = sum(d$dfs_event[d$arm == "reduced"]),
  events_control = sum(d$dfs_event[d$arm == "conventional"]),
  survival_experimental = s$surv[["reduced"]], se_experimental = s$std.err[["reduced"]],
  survival_control = s$surv[["conventional"]], se_control = s$std.err[["conventional"]],
  difference = s$surv[["reduced"]] - s$surv[["conventional"]],
  hr = exp(b), hr_p_value = summary(cx)$coefficients[1, "Pr(>|z|)"], cases = cases)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "tests/data/design_ni_reference.json")
