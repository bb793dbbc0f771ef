"""What every feature shares: who acts (`actor`) and how lists are paged (`pagination`)."""
