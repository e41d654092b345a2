"""review: verified-purchase reviews of products, moderated by administrators."""
