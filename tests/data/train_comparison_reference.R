# Reference for the paired comparison of ca125 train (models vs published scores) on held-out
# patients: pROC::roc.test(paired = TRUE, method = "delong") and pROC::ci.auc(method = "delong")
# on tests/data/train_comparison_predictions.csv. Used by tests/test_train.py.
#
# Run from the repository root (R 4.2.2, pROC 1.18.0, jsonlite):
#   Rscript tests/data/train_comparison_reference.R > tests/data/train_comparison_reference.json
#
# Each comparison uses the patients whose published score is known (a score with an empty cell
# cannot be ranked), both curves on those same patients; direction "<" (higher = likelier
# complete resection, the orientation of the scores' column) and levels c(0, 1) are fixed, not
# pROC's "auto". Numbers are printed to 15 significant digits; JSON null is R's NA.

suppressPackageStartupMessages({
  library(pROC)
  library(jsonlite)
})

d <- read.csv("tests/data/train_comparison_predictions.csv", colClasses = c(patient_id = "character"))
models <- c("p_logistic_main", "p_logistic_spline", "p_gradient_boosting")
scores <- c("ago", "imodel", "mskcc")
curve <- function(y, x) roc(y, x, levels = c(0, 1), direction = "<", quiet = TRUE)

auc_of <- function(y, x) {
  r <- curve(y, x)
  ci <- as.numeric(ci.auc(r, method = "delong"))
  list(n = length(y), n_events = sum(y), auc = as.numeric(auc(r)), ci_low = ci[1], ci_high = ci[3],
       var = var(r, method = "delong"))
}

single <- list()
for (m in models) single[[m]] <- auc_of(d$y, d[[m]])
for (s in scores) {
  ok <- !is.na(d[[s]])
  single[[s]] <- auc_of(d$y[ok], d[[s]][ok])
}

paired <- list()
for (m in models) for (s in scores) {
  ok <- !is.na(d[[s]])
  t <- roc.test(curve(d$y[ok], d[[m]][ok]), curve(d$y[ok], d[[s]][ok]), method = "delong", paired = TRUE)
  paired[[paste(m, s, sep = "_vs_")]] <- list(
    n = sum(ok), auc_model = unname(t$estimate[1]), auc_score = unname(t$estimate[2]),
    difference = unname(t$estimate[1] - t$estimate[2]), z = unname(t$statistic),
    p_value = t$p.value, ci_low = t$conf.int[1], ci_high = t$conf.int[2])
}

cat(toJSON(list(
  source = "tests/data/train_comparison_reference.R on tests/data/train_comparison_predictions.csv",
  r_version = R.version.string, pROC = as.character(packageVersion("pROC")),
  single = single, paired = paired), auto_unbox = TRUE, digits = I(15), pretty = TRUE))
cat("\n")
