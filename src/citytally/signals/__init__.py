"""Traffic signals: safe signal objects over SUMO, controllers, emergency priority and evaluation."""
