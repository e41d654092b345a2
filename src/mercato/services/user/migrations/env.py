from mercato.platform.migrations import run_env
from mercato.services.user.models import Base

run_env(Base.metadata)
