"""MLflow "models from code" entry point of the ca125kinetics pyfunc model.

MLflow stores this file in every exported model and runs it to load the model: the model
is code of the installed package (``ca125kinetics.mlflow_model.Ca125PyfuncModel``), not a
pickle. Its artifact, the bundle directory, is verified against its SHA-256 manifest in
``load_context`` before the bundle is unpickled.
"""

from mlflow.models import set_model

from ca125kinetics.mlflow_model import pyfunc_model

set_model(pyfunc_model())
