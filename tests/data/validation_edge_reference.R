# Reference values for tests/test_validation_edges.py: the validation statistics on edge cases
# (ties, risks of exactly 0 or 1, tiny samples, separation, reversed scores, survival with
# all-censored / tied / single-event data), computed with R.
#
# Run from the repository root:
#   Rscript tests/data/validation_edge_reference.R > tests/data/validation_edge_reference.json
# Needs R >= 4.1 with pROC (>= 1.18), survival (>= 3.5) and jsonlite. Every input is written
# literally below and copied into the JSON, so the tests never regenerate data.
suppressPackageStartupMessages({library(pROC); library(survival); library(jsonlite)})

num <- function(x) { x <- as.numeric(x); x[!is.finite(x)] <- NA; x }
eps <- 1e-8  # the package clips risks to [eps, 1 - eps] before logits (documented)

binary_cases <- list(
  ties_many   = list(y = c(0,0,1,0,1,1,0,1,0,0,1,1,0,1,0,1,0,0,1,1),
                     p = c(.1,.1,.1,.3,.3,.3,.3,.5,.5,.5,.5,.5,.7,.7,.7,.7,.1,.3,.7,.1)),
  ties_all    = list(y = c(1,0,1,0,0,0,1,0), p = rep(.4, 8)),
  p_zero_one  = list(y = c(0,0,1,0,1,1,0,1,1,0), p = c(0,.2,0,.4,1,.7,1,.6,.9,.1)),
  tiny_n4     = list(y = c(0,1,0,1), p = c(.2,.6,.4,.3)),
  tiny_n5     = list(y = c(1,0,0,1,1), p = c(.9,.1,.5,.5,.3)),
  separation  = list(y = c(0,0,0,1,1,1), p = c(.1,.2,.3,.7,.8,.9)),
  reversed    = list(y = c(1,1,1,0,0,0,1,0), p = c(.1,.2,.3,.7,.8,.9,.6,.05))
)

binary <- lapply(binary_cases, function(d) {
  r <- roc(d$y, d$p, levels = c(0, 1), direction = "<", quiet = TRUE)
  ci <- ci.auc(r, method = "delong")
  lp <- qlogis(pmin(pmax(d$p, eps), 1 - eps))
  w <- character(0)
  fit_glm <- function(f) withCallingHandlers(glm(f, family = binomial, control = glm.control(epsilon = 1e-14, maxit = 200)),
                                             warning = function(x) { w <<- c(w, conditionMessage(x)); invokeRestart("muffleWarning") })
  citl <- fit_glm(d$y ~ 1 + offset(lp))
  slope <- fit_glm(d$y ~ lp)
  sc <- summary(slope)$coefficients
  list(y = d$y, p = d$p,
       auc = as.numeric(auc(r)), var_delong = num(var(r, method = "delong")),
       ci_delong = num(ci[c(1, 3)]),
       citl = num(coef(citl)[1]), citl_se = num(sqrt(vcov(citl)[1, 1])),
       slope = num(coef(slope)[2]), slope_se = if (nrow(sc) == 2) num(sc[2, 2]) else NA,
       glm_warnings = unique(w),
       brier = mean((d$p - d$y)^2), oe = sum(d$y) / sum(d$p))
})

roc_test_cases <- list(
  identical   = list(y = binary_cases$tiny_n5$y, p1 = binary_cases$tiny_n5$p, p2 = binary_cases$tiny_n5$p),
  one_all_tied = list(y = binary_cases$ties_many$y, p1 = binary_cases$ties_many$p, p2 = rep(.2, 20)),
  ties_both   = list(y = binary_cases$ties_many$y, p1 = binary_cases$ties_many$p,
                     p2 = c(.2,.4,.4,.2,.6,.4,.2,.6,.2,.4,.6,.6,.4,.6,.2,.4,.2,.2,.6,.4)),
  tiny_n4     = list(y = c(0,1,0,1), p1 = c(.2,.6,.4,.3), p2 = c(.5,.4,.1,.9))
)
roc_test <- lapply(roc_test_cases, function(d) {
  r1 <- roc(d$y, d$p1, levels = c(0, 1), direction = "<", quiet = TRUE)
  r2 <- roc(d$y, d$p2, levels = c(0, 1), direction = "<", quiet = TRUE)
  t <- suppressWarnings(roc.test(r1, r2, method = "delong", paired = TRUE))
  list(y = d$y, p1 = d$p1, p2 = d$p2, z = num(t$statistic), p_value = num(t$p.value),
       ci = if (is.null(t$conf.int)) NA else num(t$conf.int))
})

# Wilson = prop.test without continuity correction; Clopper-Pearson = binom.test
props <- list(c(0, 5), c(5, 5), c(1, 1), c(0, 1), c(3, 10), c(1, 2))
proportions <- lapply(props, function(xn) list(
  x = xn[1], n = xn[2],
  wilson = num(suppressWarnings(prop.test(xn[1], xn[2], correct = FALSE))$conf.int),
  clopper_pearson = num(binom.test(xn[1], xn[2])$conf.int)))

# Hosmer-Lemeshow over quantile groups of p with tied risks never split: cut() at the unique
# type-7 quantiles (as pandas.qcut, right-closed, lowest included), empty groups dropped,
# chi2 = sum (O - E)^2 / (E (1 - E / n)), df = groups - 2 (the ResourceSelection::hoslem.test
# statistic, which is sum over both outcome columns of (O - E)^2 / E).
hosmer_lemeshow <- function(y, p, g = 10) {
  breaks <- unique(quantile(p, seq(0, 1, length.out = g + 1)))
  grp <- if (length(breaks) == 1) factor(rep(1, length(p)))  # one distinct risk: one group
         else droplevels(cut(p, breaks, include.lowest = TRUE))
  o <- tapply(y, grp, sum); e <- tapply(p, grp, sum); n <- tapply(p, grp, length)
  chi2 <- sum((o - e)^2 / (e * (1 - e / n))); df <- nlevels(grp) - 2
  list(chi2 = num(if (df >= 1) chi2 else NA), df = df, p_value = num(if (df >= 1) pchisq(chi2, df, lower.tail = FALSE) else NA),
       groups = as.integer(n), observed = as.numeric(o), mean_p = as.numeric(e / n))
}
for (k in names(binary)) binary[[k]]$hosmer_lemeshow <- hosmer_lemeshow(binary[[k]]$y, binary[[k]]$p)

survival_cases <- list(
  all_censored     = list(time = c(1, 2, 3, 4), event = c(0, 0, 0, 0)),
  tied_event_censor = list(time = c(1, 2, 2, 2, 3, 4, 4, 5), event = c(1, 1, 0, 1, 0, 1, 0, 0)),
  single_event     = list(time = c(2, 3, 5, 7), event = c(0, 1, 0, 0)),
  all_events_end   = list(time = c(1, 2, 3), event = c(1, 1, 1)),
  half_then_censored = list(time = c(1, 2, 3, 4), event = c(1, 1, 0, 0)),
  half_then_event  = list(time = c(1, 2, 3, 4), event = c(1, 1, 1, 1)),
  event_at_zero    = list(time = c(0, 1, 2, 3, 3), event = c(1, 0, 1, 1, 0)),
  last_censored_after_event = list(time = c(1, 2, 3, 3, 6), event = c(1, 1, 1, 0, 0))
)
survival_km <- lapply(survival_cases, function(d) {
  out <- list(time = d$time, event = d$event)
  for (ct in c("log-log", "log", "plain")) {
    f <- survfit(Surv(d$time, d$event) ~ 1, conf.type = ct)
    q <- quantile(f, 0.5)
    out[[ct]] <- list(time = f$time, n_risk = f$n.risk, n_event = f$n.event, n_censor = f$n.censor,
                      survival = f$surv, std_err_of_log = num(f$std.err),
                      ci_low = num(f$lower), ci_high = num(f$upper),
                      median = num(q$quantile), median_ci = num(c(q$lower, q$upper)))
  }
  out
})

two_group_cases <- list(
  ties_two_groups = list(time = c(1, 2, 2, 2, 3, 4, 4, 5, 2, 3, 3, 6),
                         event = c(1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 1, 0),
                         group = c(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1)),
  single_event = list(time = c(2, 3, 5, 7, 1, 4), event = c(0, 1, 0, 0, 0, 0), group = c(0, 0, 0, 1, 1, 1)),
  separation = list(time = c(1, 2, 3, 4, 5, 6), event = c(1, 1, 1, 1, 0, 0), group = c(1, 1, 1, 0, 0, 0))
)
two_group <- lapply(two_group_cases, function(d) {
  sd <- survdiff(Surv(d$time, d$event) ~ d$group)
  cw <- character(0)
  cx <- lapply(c("efron", "breslow"), function(ties) {
    fit <- withCallingHandlers(coxph(Surv(d$time, d$event) ~ d$group, ties = ties),
                               warning = function(x) { cw <<- c(cw, conditionMessage(x)); invokeRestart("muffleWarning") })
    list(coef = num(coef(fit)), se = num(sqrt(vcov(fit)[1, 1])))
  })
  names(cx) <- c("efron", "breslow")
  list(time = d$time, event = d$event, group = d$group,
       logrank = list(chi2 = num(sd$chisq), observed = as.numeric(sd$obs), expected = as.numeric(sd$exp)),
       cox = cx, cox_warnings = unique(cw))
})

# stratified log-rank and Cox (strata with ties, one stratum with a single event)
strat <- list(time = c(1, 2, 2, 3, 4, 4, 5, 6, 1, 1, 2, 3, 3, 4, 5, 7),
              event = c(1, 1, 0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 0, 0, 1, 0),
              group = c(0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0),
              stratum = c(rep("a", 8), rep("b", 8)))
sd <- survdiff(Surv(strat$time, strat$event) ~ strat$group + strata(strat$stratum))
sc <- coxph(Surv(strat$time, strat$event) ~ strat$group + strata(strat$stratum))
stratified <- c(strat, list(logrank = list(chi2 = num(sd$chisq), observed = as.numeric(rowSums(sd$obs)),
                                           expected = as.numeric(rowSums(sd$exp))),
                            cox = list(coef = num(coef(sc)), se = num(sqrt(vcov(sc)[1, 1])))))

# 60 small random data sets (seeded), median and interval for each conf.type
set.seed(20261130)
random_medians <- lapply(1:60, function(i) {
  n <- sample(3:25, 1)
  time <- pmax(round(rexp(n, 0.1) * 2) / 2, 0)
  event <- rbinom(n, 1, runif(1, 0.3, 1))
  res <- list(time = time, event = event)
  for (ct in c("log-log", "log", "plain")) {
    q <- quantile(survfit(Surv(time, event) ~ 1, conf.type = ct), 0.5)
    res[[ct]] <- num(c(q$quantile, q$lower, q$upper))
  }
  res
})

# net benefit, treated when p >= t (Vickers & Elkin 2006; the dcurves/rmda formula; neither
# package is in Debian, so the formula is written out)
net_benefit <- lapply(binary_cases[c("ties_many", "p_zero_one", "separation")], function(d) {
  t <- c(0, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.99)
  n <- length(d$y)
  tp <- sapply(t, function(th) sum(d$p >= th & d$y == 1)); fp <- sapply(t, function(th) sum(d$p >= th & d$y == 0))
  list(y = d$y, p = d$p, threshold = t, tp = tp, fp = fp, net_benefit = tp / n - fp / n * t / (1 - t),
       treat_all = mean(d$y) - (1 - mean(d$y)) * t / (1 - t))
})

# ROC points and classification at a threshold: pROC coords (direction "<": positive when p >= t)
roc_points <- lapply(binary_cases[c("ties_many", "p_zero_one")], function(d) {
  r <- roc(d$y, d$p, levels = c(0, 1), direction = "<", quiet = TRUE)
  co <- coords(r, "all", ret = c("sensitivity", "specificity", "tp", "fp"), transpose = FALSE)
  at <- coords(r, c(0.3, 0.5, 1), input = "threshold", ret = c("tp", "fp", "tn", "fn", "ppv", "npv"), transpose = FALSE)
  list(y = d$y, p = d$p, sensitivity = co$sensitivity, specificity = co$specificity, tp = co$tp, fp = co$fp,
       at_threshold = list(threshold = c(0.3, 0.5, 1), tp = at$tp, fp = at$fp, tn = at$tn, fn = at$fn,
                           ppv = num(at$ppv), npv = num(at$npv)))
})

# ICI family (Austin & Steyerberg 2019) on tests/data/validation_calibration.csv: the package's
# smoother is local-linear lowess, i.e. loess(degree = 1, surface = "direct"); R's default
# loess (degree 2, interpolated surface) is recorded too, to show the size of that documented
# difference. Quantiles are type 7.
cal <- read.csv("tests/data/validation_calibration.csv")
ici <- function(fit) { d <- abs(predict(fit, newdata = cal) - cal$p)
  list(ici = mean(d), e50 = median(d), e90 = as.numeric(quantile(d, 0.9)), emax = max(d)) }
ici_calibration <- list(
  local_linear = ici(loess(y ~ p, data = cal, span = 0.75, degree = 1, surface = "direct")),
  r_default_loess = ici(loess(y ~ p, data = cal)))

cat(toJSON(list(
  generated_by = "Rscript tests/data/validation_edge_reference.R",
  r_version = R.version.string,
  pROC = as.character(packageVersion("pROC")),
  survival = as.character(packageVersion("survival")),
  binary = binary, roc_test = roc_test, proportions = proportions,
  survival_km = survival_km, two_group = two_group, stratified = stratified,
  random_medians = random_medians, net_benefit = net_benefit, roc_points = roc_points,
  ici_calibration = ici_calibration),
  digits = NA, auto_unbox = TRUE, na = "null", pretty = TRUE))
