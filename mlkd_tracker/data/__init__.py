"""Data sets and bags: read, write and generate them. Nothing here imports torch or rclpy, so
data sets can be generated and read anywhere (the torch Datasets that feed the trainers are in
``mlkd_tracker.train.datasets``).

- sequences    readers for the GOT-10k and UAV123-family (UAVDark135, NAT2021, DarkTrack2021)
               layouts -> :class:`~mlkd_tracker.data.sequences.Sequence`
- results_io   tracker result / ground-truth box files (one ``x,y,w,h`` line per frame)
- synth        the synthetic night tracking set rendered by the simulator (GOT-10k layout, with a
               clean day copy of every frame); synth_cli holds its ``mlkd-tracker synth`` arguments
- synth_detect the synthetic night aerial detection set in YOLO layout (``synth-detect``)
- dataset_output  the output folder rules and recorded config shared by the data-set writers
- visdrone     VisDrone2019-DET -> YOLO layout converter (``convert-visdrone``)
- bag_reader, bag_writer, bag_types, mcap_salvage  rosbag2 files (sqlite3 and MCAP) without ROS
"""
