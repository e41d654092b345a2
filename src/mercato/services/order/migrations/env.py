from mercato.platform.migrations import run_env
from mercato.services.order.models import Base

run_env(Base.metadata)
