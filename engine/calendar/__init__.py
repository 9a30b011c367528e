"""China's statutory working calendar (调休 included): working-day arithmetic and its coverage."""
