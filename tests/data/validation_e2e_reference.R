# Independent R reading of the whole external-validation report (`ca125 validate`) on the
# end-to-end cohort: every number of the report, from the tables a statistician gets.
#
# Inputs (tests/data/):
#   validation_e2e_predictions.csv  written by `ca125 validate ... --predictions` (probability,
#                                   KELIM-like score, published scores as scored, GCIG category)
#   validation_e2e_clinical.csv     the clinical table (outcome, subgroup columns, PFS, arm)
#   validation_e2e_markers.csv      the markers table (only: which patients have markers)
#   validation_e2e_planted.csv      the planted problems (which patients break the data contract)
# Who is analysed is decided here from those files, not read from the package's `included`
# or `exclusion_reason` columns (the test compares them):
#   no_markers     a clinical row whose patient has no row in the markers table
#   invalid_input  a planted problem that breaks the data contract
#   not_scored     valid, with markers, but no probability
#   no_outcome     complete_resection empty in the clinical table
# Everything else is computed with pROC, rms, survival, glm, loess and base R formulas.
#
#   Rscript tests/data/validation_e2e_reference.R > tests/data/validation_e2e_reference.json

suppressPackageStartupMessages({
  library(pROC)
  library(rms)
  library(survival)
  library(jsonlite)
})

here <- "tests/data"
read_text <- function(name) {
  read.csv(file.path(here, name), colClasses = "character", na.strings = character(0), check.names = FALSE)
}
num <- function(x) suppressWarnings(as.numeric(ifelse(x == "", NA, x)))

pred <- read_text("validation_e2e_predictions.csv")
clin <- read_text("validation_e2e_clinical.csv")
markers <- read_text("validation_e2e_markers.csv")
planted <- read_text("validation_e2e_planted.csv")

INVALID <- c("negative_ca125", "text_ca125", "duplicate_day", "markers_only", "ecog_out_of_range",
             "stage_unknown_text", "outcome_coded_2", "pfs_negative")
invalid_ids <- unique(planted$patient_id[planted$problem %in% INVALID])
marker_ids <- unique(markers$patient_id)

# ------------------------------------------------------------------ who is analysed
everyone <- sort(union(clin$patient_id, marker_ids))
prob <- setNames(num(pred$probability), pred$patient_id)
outcome <- setNames(num(clin$complete_resection), clin$patient_id)
reason <- setNames(rep(NA_character_, length(everyone)), everyone)
for (id in everyone) {
  reason[id] <- if (!(id %in% marker_ids)) "no_markers"
    else if (id %in% invalid_ids) "invalid_input"
    else if (is.na(prob[id])) "not_scored"
    else if (is.na(outcome[id])) "no_outcome"
    else NA_character_
}
analysed <- names(reason)[is.na(reason)]
y <- as.integer(outcome[analysed])
p <- unname(prob[analysed])
pa <- pred[match(analysed, pred$patient_id), ]
ca <- clin[match(analysed, clin$patient_id), ]
n <- length(y)
reasons <- c("no_markers", "invalid_input", "not_scored", "no_outcome")
flow <- list(
  n_clinical = nrow(clin), n_markers = length(marker_ids), n_total = length(everyone),
  excluded = as.list(setNames(sapply(reasons, function(r) sum(reason == r, na.rm = TRUE)), reasons)),
  analysed = n, events = sum(y), non_events = n - sum(y))
exclusions <- as.list(reason[!is.na(reason)])

# ------------------------------------------------------------------ overall performance
z <- qnorm(0.975)
eps <- 1e-8
lp <- qlogis(pmin(pmax(p, eps), 1 - eps))
r <- roc(y, p, levels = c(0, 1), direction = "<", quiet = TRUE)
auc_ci <- as.numeric(ci.auc(r, method = "delong"))
citl_fit <- glm(y ~ 1 + offset(lp), family = binomial)
slope_fit <- glm(y ~ lp, family = binomial)
coef_row <- function(fit, k) {
  est <- unname(coef(fit)[k]); se <- unname(sqrt(diag(vcov(fit)))[k])
  c(estimate = est, se = se, ci_low = est - z * se, ci_high = est + z * se)
}
citl <- coef_row(citl_fit, 1)
slope <- coef_row(slope_fit, 2)
brier <- mean((p - y)^2)
prev <- mean(y)
oe <- sum(y) / sum(p)
se_log_oe <- sqrt((1 - prev) / sum(y))
smooth_at <- function(yy, pp) {
  fit <- loess(yy ~ pp, span = 0.75, degree = 1, surface = "direct", family = "gaussian")
  as.numeric(predict(fit, newdata = data.frame(pp = pp)))
}
diff <- abs(smooth_at(y, p) - p)
hl_groups <- function(pp, g = 10) {
  cut(pp, unique(quantile(pp, 0:g / g, type = 7)), include.lowest = TRUE)
}
grp <- droplevels(hl_groups(p))
n_g <- as.numeric(table(grp)); o_g <- as.numeric(tapply(y, grp, sum)); e_g <- as.numeric(tapply(p, grp, sum))
hl_chi2 <- sum((o_g - e_g)^2 / (e_g * (1 - e_g / n_g)))
hl_df <- length(n_g) - 2
vp <- val.prob(p, y, pl = FALSE)

overall <- list(
  n = n, n_events = sum(y), prevalence = prev, expected_events = sum(p),
  auc = as.numeric(auc(r)), auc_se = sqrt(var(r, method = "delong")), auc_ci_low = auc_ci[1], auc_ci_high = auc_ci[3],
  citl = citl[["estimate"]], citl_se = citl[["se"]], citl_ci_low = citl[["ci_low"]], citl_ci_high = citl[["ci_high"]],
  calibration_slope = slope[["estimate"]], calibration_slope_se = slope[["se"]],
  calibration_slope_ci_low = slope[["ci_low"]], calibration_slope_ci_high = slope[["ci_high"]],
  brier = brier, scaled_brier = 1 - brier / (prev * (1 - prev)),
  oe_ratio = oe, oe_ci_low = oe * exp(-z * se_log_oe), oe_ci_high = oe * exp(z * se_log_oe),
  ici = mean(diff), e50 = median(diff), e90 = unname(quantile(diff, 0.9, type = 7)), emax = max(diff),
  hosmer_lemeshow_chi2 = hl_chi2, hosmer_lemeshow_df = hl_df,
  hosmer_lemeshow_p = pchisq(hl_chi2, hl_df, lower.tail = FALSE))
val_prob <- list(C = unname(vp["C (ROC)"]), Dxy = unname(vp["Dxy"]), Brier = unname(vp["Brier"]),
                 Slope = unname(vp["Slope"]), Intercept = unname(vp["Intercept"]))

# calibration curve: smoothed at each distinct risk, and the 10 grouped points (Wilson CI)
up <- sort(unique(p))
wilson <- function(x, m) {
  t(mapply(function(a, b) if (b == 0) c(NA, NA) else as.numeric(prop.test(a, b, correct = FALSE)$conf.int), x, m))
}
gw <- wilson(o_g, n_g)
calibration <- list(
  smoothed = list(predicted = up, observed = smooth_at(y, p)[match(up, p)],
                  n = as.integer(table(factor(p, levels = up)))),
  grouped = list(predicted = e_g / n_g, observed = o_g / n_g, ci_low = gw[, 1], ci_high = gw[, 2],
                 n = n_g, n_events = o_g))

# ------------------------------------------------------------------ threshold metrics
thr <- unique(num(pred$threshold))
stopifnot(length(thr) == 1)
pos <- p >= thr
tp <- sum(pos & y == 1); fp <- sum(pos & y == 0); tn <- sum(!pos & y == 0); fn <- sum(!pos & y == 1)
num_ <- c(sensitivity = tp, specificity = tn, ppv = tp, npv = tn)
den_ <- c(sensitivity = tp + fn, specificity = tn + fp, ppv = tp + fp, npv = tn + fn)
tw <- wilson(num_, den_)
threshold <- list(threshold = thr, tp = tp, fp = fp, tn = tn, fn = fn,
                  metric = names(num_), estimate = unname(num_ / den_), ci_low = tw[, 1], ci_high = tw[, 2],
                  numerator = unname(num_), denominator = unname(den_))

# ------------------------------------------------------------------ ROC points (pROC coords)
co <- coords(r, "all", ret = c("tp", "fp"), transpose = FALSE)
roc_points <- unique(co[order(co$fp, co$tp), c("fp", "tp")])

# ------------------------------------------------------------------ decision curve
ts <- round((1:99) / 100, 2)
nb <- function(treated) sapply(ts, function(t) sum(treated(t) & y == 1) / n - sum(treated(t) & y == 0) / n * t / (1 - t))
decision <- list(threshold = ts, net_benefit = nb(function(t) p >= t),
                 treat_all = prev - (1 - prev) * ts / (1 - ts))
# published rules: drawn only when every analysed patient has the rule's decision
ago_pos <- ifelse(pa$ago_positive == "True", 1, ifelse(pa$ago_positive == "False", 0, NA))
low_risk <- ifelse(pa$imodel_low_risk == "True", 1, ifelse(pa$imodel_low_risk == "False", 0, NA))
mskcc <- c(offer = 2, consider = 1, no = 0)[pa$mskcc_recommendation]
rules_available <- list(ago_positive = sum(!is.na(ago_pos)), imodel_low_risk = sum(!is.na(low_risk)),
                        mskcc_offer = sum(!is.na(mskcc)), mskcc_offer_or_consider = sum(!is.na(mskcc)))
if (all(!is.na(ago_pos))) decision$net_benefit_ago_positive <- nb(function(t) ago_pos >= t)
if (all(!is.na(low_risk))) decision$net_benefit_imodel_low_risk <- nb(function(t) low_risk >= t)
if (all(!is.na(mskcc))) {
  decision$net_benefit_mskcc_offer <- nb(function(t) (mskcc == 2) >= t)
  decision$net_benefit_mskcc_offer_or_consider <- nb(function(t) (mskcc >= 1) >= t)
}

# ------------------------------------------------------------------ published scores, same patients
scores <- list(ago = ago_pos, imodel = -num(pa$imodel_points), mskcc = unname(mskcc), kelim_score = num(pa$kelim_score))
comparison <- lapply(scores, function(s) {
  ok <- !is.na(s)
  yk <- y[ok]; pk <- p[ok]; sk <- s[ok]
  out <- list(n = sum(ok), n_events = sum(yk))
  if (min(sum(yk), sum(1 - yk)) < 2) return(out)
  r1 <- roc(yk, pk, levels = c(0, 1), direction = "<", quiet = TRUE)
  r2 <- roc(yk, sk, levels = c(0, 1), direction = "<", quiet = TRUE)
  tst <- roc.test(r1, r2, method = "delong", paired = TRUE)
  ci2 <- as.numeric(ci.auc(r2, method = "delong"))
  c(out, list(auc = as.numeric(auc(r2)), auc_ci_low = ci2[1], auc_ci_high = ci2[3], model_auc = as.numeric(auc(r1)),
              difference = as.numeric(auc(r1) - auc(r2)), difference_ci_low = tst$conf.int[1],
              difference_ci_high = tst$conf.int[2], p_value = tst$p.value))
})

# ------------------------------------------------------------------ subgroups
# labels from the clinical table (ecog, pattern, FIGO stage without substage, arm), the
# KELIM-like score (>= 1 favourable) and the AGO result; the GCIG category (CR, PR, or the
# GCIG status) is the package's, read from the predictions file
label <- function(x) ifelse(is.na(x) | x == "", "unknown", x)
kel <- num(pa$kelim_score)
groups <- list(
  ecog = label(ca$ecog), recurrence_pattern = label(ca$recurrence_pattern),
  figo_stage = label(sub("^(IV|III|II|I).*$", "\\1", ca$figo_stage)),
  gcig_category = label(pa$subgroup_gcig_category),
  kelim_group = label(ifelse(is.na(kel), NA, ifelse(kel >= 1, "favourable (score >= 1)", "unfavourable (score < 1)"))),
  ago = label(ifelse(is.na(ago_pos), NA, ifelse(ago_pos == 1, "positive", "negative"))),
  arm = label(ca$arm))
subgroups <- list()
for (v in names(groups)) {
  for (lev in sort(unique(groups[[v]]))) {
    m <- groups[[v]] == lev
    ym <- y[m]; pm <- p[m]
    row <- list(variable = v, level = lev, n = sum(m), n_events = sum(ym), observed = mean(ym), expected = mean(pm),
                brier = mean((pm - ym)^2))
    if (min(sum(ym), sum(1 - ym)) >= 5) {
      rm <- roc(ym, pm, levels = c(0, 1), direction = "<", quiet = TRUE)
      cm <- as.numeric(ci.auc(rm, method = "delong"))
      lpm <- qlogis(pmin(pmax(pm, eps), 1 - eps))
      row <- c(row, list(auc = as.numeric(auc(rm)), auc_ci_low = cm[1], auc_ci_high = cm[3],
                         citl = unname(coef(glm(ym ~ 1 + offset(lpm), family = binomial))[1]),
                         calibration_slope = unname(coef(glm(ym ~ lpm, family = binomial))[2]),
                         oe_ratio = sum(ym) / sum(pm)))
    }
    subgroups[[length(subgroups) + 1]] <- row
  }
}

# ------------------------------------------------------------------ characteristics (TRIPOD 13b)
cell_num <- function(v) {
  ok <- !is.na(v)
  txt <- if (any(ok)) sprintf("%.3g [%.3g-%.3g]", median(v[ok]), quantile(v[ok], 0.25), quantile(v[ok], 0.75)) else "-"
  if (any(!ok)) paste0(txt, sprintf("; %d missing", sum(!ok))) else txt
}
masks <- list(all = rep(TRUE, n), outcome_1 = y == 1, outcome_0 = y == 0)
characteristics <- list(list(characteristic = "patients", level = "", all = as.character(n),
                             outcome_1 = as.character(sum(y)), outcome_0 = as.character(n - sum(y))))
for (item in list(c("age", "age, years"), c("pfi_months", "platinum-free interval, months"),
                  c("ascites_ml", "ascites, mL"), c("kelim_score", "KELIM-like score"),
                  c("probability", "predicted probability"))) {
  v <- if (item[1] == "kelim_score") kel else if (item[1] == "probability") p else num(ca[[item[1]]])
  cells <- lapply(masks, function(mk) cell_num(v[mk]))
  characteristics[[length(characteristics) + 1]] <- c(list(characteristic = paste0(item[2], ", median [IQR]"),
                                                           level = ""), cells)
}
for (item in list(c("ecog", "ECOG"), c("figo_stage", "FIGO stage"), c("recurrence_pattern", "recurrence pattern"),
                  c("primary_residual_disease", "residual disease at primary surgery"), c("arm", "arm"))) {
  v <- ca[[item[1]]]
  if (item[1] == "figo_stage") v <- ifelse(v == "", v, sub("^(IV|III|II|I).*$", "\\1", v))
  v <- ifelse(v == "", "unknown", v)
  levs <- sort(unique(v)); levs <- c(setdiff(levs, "unknown"), intersect(levs, "unknown"))
  for (lev in levs) {
    cells <- lapply(masks, function(mk) sprintf("%d (%.0f %%)", sum(mk & v == lev), 100 * sum(mk & v == lev) / sum(mk)))
    characteristics[[length(characteristics) + 1]] <- c(list(characteristic = item[2], level = lev), cells)
  }
}

# ------------------------------------------------------------------ case mix against the training ranges
# analysed patients with a value outside the range the model records (models/default/bundle.json)
ranges <- fromJSON("models/default/bundle.json")$feature_ranges
case_mix <- lapply(c("age", "ascites_ml", "ecog", "pfi_months", "kelim_score"), function(f) {
  v <- if (f == "kelim_score") kel else num(ca[[f]])
  ok <- !is.na(v)
  list(feature = f, n_checked = sum(ok), n_outside = sum(ok & (v < ranges[[f]][1] | v > ranges[[f]][2])))
})

# ------------------------------------------------------------------ sample size (Riley et al. 2021)
# anticipated values = the observed ones: prevalence, AUC, linear predictor ~ Normal(mean, sd)
# of qlogis(p); 95 % interval widths O/E 0.2, calibration slope 0.2, C-statistic 0.1 (z = 1.96)
lp_mean <- mean(lp); lp_sd <- sd(lp)
se_oe <- asinh(0.2 / 2) / 1.96
n_oe <- ceiling((1 - prev) / (prev * se_oe^2))
moment <- function(k) integrate(function(x) x^k * plogis(x) * (1 - plogis(x)) * dnorm(x, lp_mean, lp_sd),
                                -Inf, Inf, rel.tol = 1e-12)$value
i00 <- moment(0); i01 <- moment(1); i11 <- moment(2)
se_slope <- 0.2 / (2 * 1.96)
n_slope <- ceiling(i00 / (se_slope^2 * (i00 * i11 - i01^2)))
auc_obs <- overall$auc
newcombe_se <- function(m) sqrt(auc_obs * (1 - auc_obs) * (1 + (m / 2 - 1) * (1 - auc_obs) / (2 - auc_obs) +
                                  (m / 2 - 1) * auc_obs / (1 + auc_obs)) / (m^2 * prev * (1 - prev)))
n_c <- 2
while (2 * 1.96 * newcombe_se(n_c) > 0.1) n_c <- n_c + 1
sample_size <- list(criterion = c("oe", "calibration_slope", "cstatistic", "final"),
                    n = c(n_oe, n_slope, n_c, max(n_oe, n_slope, n_c)),
                    events = c(n_oe, n_slope, n_c, max(n_oe, n_slope, n_c)) * prev,
                    se = c(se_oe, se_slope, newcombe_se(n_c), NA))

# ------------------------------------------------------------------ progression-free survival
# every clinical row with valid input and both pfs_months and pfs_event known
cl <- clin
cl$time <- num(cl$pfs_months); cl$event <- num(cl$pfs_event)
cl$invalid <- cl$patient_id %in% invalid_ids
known <- !is.na(cl$time) & !is.na(cl$event)
sd <- cl[known & !cl$invalid, ]
sd$kelim <- num(pred$kelim_score[match(sd$patient_id, pred$patient_id)])
sd$kelim_group <- ifelse(is.na(sd$kelim), NA, ifelse(sd$kelim >= 1, "favourable (score >= 1)", "unfavourable (score < 1)"))
sd$arm[sd$arm == ""] <- NA
sd$cr <- num(sd$complete_resection)
# the model's predicted group: probability at or above its threshold, for the scored patients
at <- match(sd$patient_id, pred$patient_id)
sd$p <- num(pred$probability[at])
scored <- !is.na(sd$p) & pred$status[at] %in% c("ok", "insufficient")
sd$predicted_group <- ifelse(!scored, NA, ifelse(sd$p >= thr, sprintf("predicted resectable (p >= %.2f)", thr),
                                                 sprintf("predicted not resectable (p < %.2f)", thr)))
surv_counts <- list(n_patients = nrow(sd), invalid_left_out = sum(cl$invalid), unknown_pfs_left_out = sum(!known & !cl$invalid),
                    no_kelim_score = sum(is.na(sd$kelim_group)), arm_unknown = sum(is.na(sd$arm)),
                    no_probability = sum(is.na(sd$predicted_group)))
km_table <- function(d, g) {
  fit <- survfit(Surv(time, event) ~ g, data = data.frame(time = d$time, event = d$event, g = d[[g]]),
                 conf.type = "log-log")
  st <- rep(sub("^g=", "", names(fit$strata)), fit$strata)
  km <- list(group = st, time = fit$time, n_risk = fit$n.risk, n_event = fit$n.event, n_censor = fit$n.censor,
             survival = fit$surv, std_err = fit$surv * fit$std.err, ci_low = fit$lower, ci_high = fit$upper)
  q <- quantile(fit, 0.5)
  med <- list(group = sub("^g=", "", names(fit$strata)), n = as.integer(fit$n),
              n_events = as.numeric(tapply(fit$n.event, factor(st, levels = sub("^g=", "", names(fit$strata))), sum)),
              median = unname(q$quantile[, 1]), ci_low = unname(q$lower[, 1]), ci_high = unname(q$upper[, 1]))
  sdf <- survdiff(Surv(time, event) ~ g, data = data.frame(time = d$time, event = d$event, g = d[[g]]))
  df <- length(sdf$n) - 1
  list(km = km, medians = med, logrank = list(chi2 = sdf$chisq, df = df, p_value = pchisq(sdf$chisq, df, lower.tail = FALSE)))
}
surgery <- sd[!is.na(sd$arm) & sd$arm == "surgery", ]
survival_out <- list(
  counts = surv_counts,
  kelim_group = km_table(sd[!is.na(sd$kelim_group), ], "kelim_group"),
  arm = km_table(sd[!is.na(sd$arm), ], "arm"),
  kelim_group_surgery = km_table(surgery[!is.na(surgery$kelim_group), ], "kelim_group"),
  predicted_group = km_table(sd[!is.na(sd$predicted_group), ], "predicted_group"),
  predicted_group_surgery = km_table(surgery[!is.na(surgery$predicted_group), ], "predicted_group"))
cox_table <- function(d, covariates) {
  d <- d[complete.cases(d[, covariates]), ]
  fit <- coxph(as.formula(paste("Surv(time, event) ~", paste(covariates, collapse = " + "))), data = d, ties = "efron")
  s <- summary(fit)$coefficients
  ci <- exp(confint(fit))
  list(term = covariates, coef = unname(s[, "coef"]), se = unname(s[, "se(coef)"]), hr = unname(s[, "exp(coef)"]),
       hr_ci_low = unname(ci[, 1]), hr_ci_high = unname(ci[, 2]), z = unname(s[, "z"]), p_value = unname(s[, "Pr(>|z|)"]),
       n = fit$n, n_events = fit$nevent, left_out = NA)
}
sd$kelim_favourable <- ifelse(is.na(sd$kelim), NA, as.numeric(sd$kelim >= 1))
sd$surgery <- ifelse(is.na(sd$arm), NA, as.numeric(sd$arm == "surgery"))
sd$complete_resection <- sd$cr
surgery <- sd[!is.na(sd$arm) & sd$arm == "surgery", ]
cox1 <- cox_table(sd, c("kelim_favourable", "surgery"))
cox1$left_out <- sum(!complete.cases(sd[, c("kelim_favourable", "surgery")]))
cox2 <- cox_table(surgery, c("kelim_favourable", "complete_resection"))
cox2$left_out <- sum(!complete.cases(surgery[, c("kelim_favourable", "complete_resection")]))
survival_out$cox <- list(`kelim+arm` = cox1, `kelim+complete_resection (surgery arm)` = cox2)

out <- list(
  versions = list(R = R.version.string, pROC = as.character(packageVersion("pROC")),
                  rms = as.character(packageVersion("rms")), survival = as.character(packageVersion("survival")),
                  jsonlite = as.character(packageVersion("jsonlite"))),
  flow = flow, exclusions = exclusions, analysed = analysed, overall = overall, val_prob = val_prob,
  calibration = calibration, threshold = threshold, roc_points = list(fp = roc_points$fp, tp = roc_points$tp),
  decision = decision, rules_available = rules_available, comparison = comparison, subgroups = subgroups,
  characteristics = characteristics, case_mix = case_mix, sample_size = sample_size, survival = survival_out)
cat(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", null = "null", pretty = FALSE), "\n")
