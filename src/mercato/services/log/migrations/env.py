from mercato.platform.migrations import run_env
from mercato.services.log.models import Base

run_env(Base.metadata)
